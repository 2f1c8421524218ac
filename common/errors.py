"""The one error hierarchy of Redress; ``api.errors`` maps it to HTTP."""


class RedressError(Exception):
    """Base of every error a person can act on; ``message`` says what to do."""

    code = "error"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class TransitionNotAllowed(RedressError):
    """The complaint's current state does not allow the requested transition (409)."""

    code = "transition_not_allowed"


class Conflict(RedressError):
    """Someone else changed the complaint first, or a key was reused differently (409)."""

    code = "conflict"


class PermissionDenied(RedressError):
    """The actor may not do this to this complaint (403)."""

    code = "permission_denied"


class OutsideYourQueue(PermissionDenied):
    """Staff asked for a complaint the access policy keeps from them (403).

    Staff are told whose queue it is, so they know whom to ask; nothing else about it.
    """

    def __init__(self, *, reference: str, team_name: str) -> None:
        super().__init__(
            f"{reference} belongs to the {team_name} team's queue, and you are not in that "
            "team. Ask a supervisor to reassign it if you should work on it.",
            details={"team": [team_name]},
        )
        self.reference = reference
        self.team_name = team_name


class ValidationFailed(RedressError):
    """The request is incomplete or inconsistent; ``details`` maps fields to messages (400)."""

    code = "validation_failed"


class Gone(RedressError):
    """It existed, and is no longer available: a revoked or expired link (410)."""

    code = "gone"


class NotFound(RedressError):
    """No such object, or not one the actor may see (404)."""

    code = "not_found"


class TooManyAttempts(RedressError):
    """Too many failed sign-ins for this account or address; wait and retry (429).

    ``retry_after_seconds`` becomes the response's ``Retry-After``, which clients obey.
    """

    code = "too_many_attempts"

    def __init__(self, message: str, *, details: dict | None = None, retry_after_seconds: int):
        super().__init__(message, details=details)
        self.retry_after_seconds = max(1, retry_after_seconds)


class AlreadySent(Exception):
    """The form was sent before, under the same one-time token; ``earlier`` is the row its
    first post wrote (the message, or the record of the form's submission). Not an error to
    show: the second post is answered as the first was."""

    def __init__(self, earlier):
        super().__init__(f"{type(earlier).__name__} {earlier.pk} was already written by this form.")
        self.earlier = earlier
