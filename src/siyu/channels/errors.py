"""Typed errors of the channel port and of the callback crypto shared by WeCom and the official account.

Callers (jobs, services) decide what to do from the class alone:

* ``retryable`` errors (``ChannelUnavailable``, ``ChannelRateLimited``) may be tried again later with the same
  idempotency key;
* ``ChannelConfigError`` needs an administrator (wrong secret, missing permission, IP not trusted);
* ``ChannelRejected`` is final for this request (bad parameter, business rule of the channel);
* ``RecipientUnreachable`` is final for one recipient (the customer deleted the employee, blocked the account);
* ``ChannelValidationError`` is raised *before* anything is sent, when a request breaks a documented limit; it is
  also a ``kernel.errors.ValidationFailed`` so an API edge answers 422 with the offending fields.

Messages never contain secrets, access tokens or URLs with query strings.
"""

from __future__ import annotations

from siyu.kernel.errors import ValidationFailed


class ChannelError(Exception):
    """Base of every error a channel adapter or client raises."""

    retryable: bool = False

    def __init__(self, message: str = "", *, code: str | int | None = None):
        super().__init__(message or type(self).__name__)
        self.message = message or type(self).__name__
        self.channel_code = code


class ChannelValidationError(ChannelError, ValidationFailed):
    """The request breaks a documented limit of the channel; nothing was sent."""

    def __init__(self, message: str = "", *, fields: dict[str, list[str]] | None = None):
        # through ChannelError to ValidationFailed: one message, code "validation_failed"
        super().__init__(message)
        self.fields = fields or {}


class ChannelConfigError(ChannelError):
    """Credentials, permissions or configuration are wrong: an administrator must act."""


class ChannelUnavailable(ChannelError):
    """The channel could not be reached or said it is busy; the same request may be retried."""

    retryable = True


class ChannelRateLimited(ChannelError):
    """A channel or client-side rate limit is in the way; retry after ``retry_after`` seconds."""

    retryable = True

    def __init__(self, message: str = "", *, code: str | int | None = None, retry_after: float = 60.0):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ChannelRejected(ChannelError):
    """The channel refused this request for good (invalid id, business rule); do not retry it unchanged."""


class RecipientUnreachable(ChannelRejected):
    """The recipient cannot be reached through this channel (not a friend any more, blocked, unsubscribed)."""


class UnsupportedContent(ChannelValidationError):
    """The adapter cannot send this kind of content (see ``ChannelAdapter.capabilities``)."""


class IdempotencyConflict(ChannelValidationError):
    """The idempotency key was already used for a different request."""


# --- callback crypto (WXBizMsgCrypt) --------------------------------------------------------------------
# The codes are the official library's return values (WeCom and official-account samples, ierror.py). They are
# local to the library, never sent on the wire; a callback endpoint answers any of them with a 4xx.


class CallbackCryptoError(ChannelError):
    """A callback or reply could not be verified, decrypted or built; the message must not be processed."""

    code: int = 0

    def __init__(self, message: str = ""):
        super().__init__(message or type(self).__name__, code=self.code)


class SignatureInvalid(CallbackCryptoError):
    code = -40001  # ValidateSignature_Error


class XmlParseError(CallbackCryptoError):
    code = -40002  # ParseXml_Error (ParseJson in the JSON library)


class SignatureComputeError(CallbackCryptoError):
    code = -40003  # ComputeSignature_Error


class IllegalAesKey(CallbackCryptoError):
    code = -40004  # EncodingAESKey is not 43 characters or does not decode to 32 bytes


class ReceiveIdMismatch(CallbackCryptoError):
    code = -40005  # ValidateCorpid_Error / ValidateAppid_Error


class EncryptAesError(CallbackCryptoError):
    code = -40006


class DecryptAesError(CallbackCryptoError):
    code = -40007  # includes bad PKCS#7 padding and ciphertext that is not whole AES blocks


class IllegalBuffer(CallbackCryptoError):
    code = -40008  # plaintext structure wrong: too short, length field beyond the buffer, bad UTF-8


class EncodeBase64Error(CallbackCryptoError):
    code = -40009


class DecodeBase64Error(CallbackCryptoError):
    code = -40010


class GenReturnXmlError(CallbackCryptoError):
    code = -40011
