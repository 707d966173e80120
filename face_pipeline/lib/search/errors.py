"""Why a lookup can not be answered as asked; each message says what to do."""

from face_pipeline.lib.errors import UserError


class UnanswerableLookup(UserError):
    """A lookup that can not be answered as asked; the message says why and what to do."""


class NoFaceInReference(UnanswerableLookup):
    pass


class AmbiguousReference(UnanswerableLookup):
    """Several faces of similar size and none clearly the subject. `faces` (largest first, boxes in
    the pixels of `photo`, the decoded picture held in memory) lets a page ask which one is meant."""

    def __init__(self, message: str, faces=(), photo=None):
        super().__init__(message)
        self.faces = list(faces)
        self.photo = photo


class NoVectors(UnanswerableLookup):
    pass
