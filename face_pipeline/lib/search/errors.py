"""Why a lookup can not be answered as asked; each message says what to do."""

from face_pipeline.lib.errors import UserError


class UnanswerableLookup(UserError):
    """A lookup that can not be answered as asked; the message says why and what to do."""


class NoFaceInReference(UnanswerableLookup):
    pass


class AmbiguousReference(UnanswerableLookup):
    pass


class NoVectors(UnanswerableLookup):
    pass
