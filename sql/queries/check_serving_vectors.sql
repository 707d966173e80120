-- Per event: faces of its current photos that have no vector of the event's serving model.
-- A complete event returns missing = 0.
SELECT m.event, m.model_id, count(f.face_id) AS faces, count(v.face_id) AS vectors,
       count(f.face_id) - count(v.face_id) AS missing
FROM event_models m
JOIN photos p ON p.event = m.event
JOIN faces f ON f.event = p.event AND f.photo_id = p.photo_id AND f.detector_model = p.detector_model
LEFT JOIN face_vectors v ON v.face_id = f.face_id AND v.model_id = m.model_id
WHERE m.serving
GROUP BY m.event, m.model_id
ORDER BY m.event
