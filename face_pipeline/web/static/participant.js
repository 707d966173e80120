// The participant page: keeps the chosen selfie in this browser's memory (never sent anywhere but
// this server's search, never stored there) so that choosing a face or confirming "Is this you too?"
// can search again without asking for the picture again. Answers are HTML rendered (and escaped)
// by the server.
(function () {
  "use strict";
  var form = document.getElementById("find-form");
  if (!form) { return; }
  var results = document.getElementById("results");
  var status = document.getElementById("status");
  var selfie = null;
  var faceIndex = null;
  var confirmed = [];
  var declined = [];  // "No" answers: not asked again in this visit

  function search() {
    if (!selfie) { return; }
    var data = new FormData();
    data.append("selfie", selfie, selfie.name || "selfie.jpg");
    if (faceIndex !== null) { data.append("face_index", String(faceIndex)); }
    confirmed.forEach(function (c) { data.append("confirmed", c); });
    declined.forEach(function (c) { data.append("declined", c); });
    status.textContent = "Looking for you in the photos…";
    results.setAttribute("aria-busy", "true");
    fetch(form.action, { method: "POST", body: data, headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.text(); })
      .then(function (html) { results.innerHTML = html; status.textContent = ""; })
      .catch(function () { status.textContent = "The connection failed: please try again."; })
      .finally(function () { results.removeAttribute("aria-busy"); });
  }

  form.addEventListener("change", function (e) {
    var input = e.target;
    if (!input.hasAttribute("data-selfie") || !input.files || !input.files.length) { return; }
    selfie = input.files[0];
    faceIndex = null;
    confirmed = [];
    declined = [];
    input.value = "";
    search();
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); search(); });
  results.addEventListener("click", function (e) {
    var button = e.target.closest("button");
    if (!button) { return; }
    if (button.hasAttribute("data-face-index")) {
      faceIndex = parseInt(button.getAttribute("data-face-index"), 10);
      search();
    } else if (button.hasAttribute("data-confirm")) {
      confirmed.push(button.getAttribute("data-confirm"));
      search();
    } else if (button.hasAttribute("data-decline")) {
      var item = button.closest(".candidate");
      if (item) {
        declined.push(item.getAttribute("data-face"));
        item.remove();
      }
    }
  });
})();
