"""One error tree; each class's docstring is its default title. The middleware
in service.http.middleware turns any of them into RFC 9457 problem+json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.limits import MAX_ERROR_FIELD_LENGTH, MAX_ERROR_MESSAGE_LENGTH, MAX_ERRORS


class FieldError(dict):
    """One entry of a problem's `errors`: {"field", "code", "message"}."""

    def __init__(self, field: str, code: str, message: str) -> None:
        # A field name can be a client's own key (an unknown field): never repeat a long one whole.
        super().__init__(
            field=_cut(field, MAX_ERROR_FIELD_LENGTH), code=code, message=_cut(message, MAX_ERROR_MESSAGE_LENGTH)
        )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ServiceError(Exception):
    """Internal server error"""

    status = 500
    code = "internal_error"
    # RFC 6749's `error` for the token endpoint's answers, sent beside the problem fields.
    oauth_error: str | None = None
    # Answer with `Connection: close`: the rest of the request may still be on its way.
    close_connection = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = list(errors)
        if len(self.errors) > MAX_ERRORS:
            # A 1 MiB body of unknown keys would otherwise list thousands.
            more = len(self.errors) - MAX_ERRORS
            self.errors = self.errors[:MAX_ERRORS]
            self.detail = f"{self.detail} ({more} more {'error' if more == 1 else 'errors'} not listed)"
        self.headers = dict(headers or {})
        super().__init__(self.detail)

    @property
    def title(self) -> str:
        return (type(self).__doc__ or "Error").strip().splitlines()[0]


class BadRequest(ServiceError):
    """Bad request"""

    status = 400
    code = "bad_request"


class MalformedJson(BadRequest):
    """The request body is not valid JSON"""

    code = "malformed_json"


class UnsupportedGrantType(BadRequest):
    """Unsupported grant type"""

    code = "unsupported_grant_type"
    oauth_error = "unsupported_grant_type"


class InvalidScope(BadRequest):
    """The requested scope is not granted to this client"""

    code = "invalid_scope"
    oauth_error = "invalid_scope"


class InvalidIdempotencyKey(BadRequest):
    """Invalid Idempotency-Key"""

    code = "invalid_idempotency_key"


class UnsupportedApiVersion(BadRequest):
    """Unsupported API version"""

    code = "unsupported_api_version"


class Unauthorized(ServiceError):
    """Authentication required"""

    status = 401
    code = "unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidClient(ServiceError):
    """Invalid client credentials"""

    status = 401
    code = "invalid_client"
    oauth_error = "invalid_client"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="oauth"'})


class EditionNotPermitted(ServiceError):
    """This edition may only read"""

    status = 403
    code = "edition_not_permitted"


class InsufficientScope(ServiceError):
    """The access token lacks the scope this call needs"""

    status = 403
    code = "insufficient_scope"

    def __init__(self, scope: str = "orders:read") -> None:
        super().__init__(
            f"This call needs the scope {scope}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )


class ApproverIsSubmitter(ServiceError):
    """The submitter of an order cannot approve it"""

    status = 403
    code = "approver_is_submitter"


class NotFound(ServiceError):
    """Not found"""

    status = 404
    code = "not_found"


class MethodNotAllowed(ServiceError):
    """Method not allowed"""

    status = 405
    code = "method_not_allowed"


class Conflict(ServiceError):
    """Conflict with the current state"""

    status = 409
    code = "conflict"


class AlreadyExists(Conflict):
    """It exists already"""

    code = "already_exists"


class OrderNotDraft(Conflict):
    """The order is not a Draft"""

    code = "order_not_draft"


class OrderNotConfirmed(Conflict):
    """The order is not confirmed"""

    code = "order_not_confirmed"


class OrderNotPendingApproval(Conflict):
    """The order is not waiting for approval"""

    code = "order_not_pending_approval"


class SubscriptionChangePending(Conflict):
    """A subscription of this order has another change checked out and not final"""

    code = "subscription_change_pending"


class WebhookDisabled(Conflict):
    """The webhook is disabled"""

    code = "webhook_disabled"


class OrderBusy(Conflict):
    """Another change holds the order"""

    code = "order_busy"


class WebhookLimitReached(Conflict):
    """The reseller has as many webhooks as it may"""

    code = "webhook_limit_reached"


class SigningKeyInUse(Conflict):
    """The current signing key cannot be deleted"""

    code = "signing_key_in_use"


class IdempotencyKeyInProgress(Conflict):
    """A request with this Idempotency-Key is still running"""

    code = "idempotency_key_in_progress"


class RequestTimeout(ServiceError):
    """The request was not received in time"""

    status = 408
    code = "request_timeout"
    close_connection = True


class PreconditionFailed(ServiceError):
    """The resource changed since the given ETag"""

    status = 412
    code = "precondition_failed"


class PayloadTooLarge(ServiceError):
    """Request body too large"""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    """Unsupported media type"""

    status = 415
    code = "unsupported_media_type"


class ValidationFailed(ServiceError):
    """The request is not valid"""

    status = 422
    code = "validation_error"


class OrderEmpty(ValidationFailed):
    """The order has no items"""

    code = "order_empty"


class OrderIncomplete(ValidationFailed):
    """Required values are missing"""

    code = "required_values_missing"


class UrlNotAllowed(ValidationFailed):
    """The URL's host is not a public address"""

    code = "url_not_allowed"


class IdempotencyKeyReused(ValidationFailed):
    """This Idempotency-Key was used for a different request"""

    code = "idempotency_key_reused"


class RateLimited(ServiceError):
    """Too many requests"""

    status = 429
    code = "rate_limited"


class SlowDown(RateLimited):
    """Too many failed attempts for this client"""

    code = "slow_down"
    oauth_error = "slow_down"


class TooManyFailedAttempts(RateLimited):
    """Too many failed operator authentications"""

    code = "too_many_failed_attempts"


class TooManyStreams(ServiceError):
    """Too many open event streams for this credential or reseller"""

    status = 429
    code = "too_many_streams"


class ServiceUnavailable(ServiceError):
    """Service unavailable"""

    status = 503
    code = "service_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database is not available right now"""

    code = "database_unavailable"


class DatabaseBusy(ServiceUnavailable):
    """The database connections are busy"""

    code = "database_busy"


def field_error(field: str, message: str, code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", errors=[FieldError(field, code, message)])
