"""Operator API: resellers, customers, credentials, products, custom fields."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from service.auth import SCOPES
from service.domain.definitions import TYPES
from service.schemas.common import Id, Name, NamedEnum, Request, Response, StrictBoolean, Text

EDITIONS = ("Free", "Standard")
MAX_PRICE = Decimal("999999999999.99")


class ResellerCreate(Request):
    read_only = ("id", "accountId")
    name = Text(required=True)
    edition = NamedEnum("Edition", EDITIONS, required=True)


class ResellerPatch(Request):
    """Every field is optional; only the fields sent change."""

    read_only = ("id", "accountId", "name")
    edition = NamedEnum("Edition", EDITIONS)
    approvalRequired = StrictBoolean(
        metadata={"description": "checkouts wait in `Reseller Pending Approval` for a second credential"}
    )


class Reseller(Response):
    id = Id(required=True)
    name = fields.String(required=True)
    edition = NamedEnum("Edition", EDITIONS, required=True)
    accountId = Id(required=True)
    approvalRequired = fields.Boolean(required=True)


class CustomerCreate(Request):
    read_only = ("id", "type")
    name = Text(required=True)


class Account(Response):
    id = Id(required=True)
    name = fields.String(required=True)
    type = NamedEnum("AccountType", ("Reseller", "Customer"), required=True)
    approvalRequired = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={
            "description": "whether checkouts for this account wait for approval; null: as the reseller's "
            "`approvalRequired` says"
        },
    )


class CredentialsCreate(Request):
    scopes = fields.List(
        NamedEnum("Scope", SCOPES),
        required=True,
        validate=validate.Length(min=1, max=len(SCOPES)),
        metadata={"description": "what the credential may do; without a body it gets every scope"},
    )


class Credentials(Response):
    clientId = fields.String(required=True)
    clientSecret = fields.String(required=True, metadata={"description": "shown once; only its hash is kept"})
    scopes = fields.List(NamedEnum("Scope", SCOPES), required=True)


class TokenRequest(Schema):
    """The form body of POST /oauth/token. Only documents it: the handler checks
    grant_type and scope itself to answer RFC 6749's errors, and other form
    fields are ignored, not refused."""

    class Meta:
        unknown = EXCLUDE

    grant_type = fields.String(required=True, validate=validate.OneOf(("client_credentials",)))
    scope = fields.String(
        metadata={
            "description": "space-separated subset of the credential's scopes; absent: all of them",
            "example": "orders:read",
        }
    )


class AccessToken(Response):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, validate=validate.OneOf(("Bearer",)))
    expires_in = fields.Integer(required=True, metadata={"description": "seconds until the token expires"})
    scope = fields.String(required=True, metadata={"description": "the granted scopes, space-separated"})


class SigningKey(Response):
    kid = fields.String(required=True, metadata={"description": "the `kid` header of the tokens it signs"})
    createdAt = fields.DateTime(required=True)
    current = fields.Boolean(
        required=True, metadata={"description": "it signs the tokens issued now (the newest key)"}
    )


class Jwk(Response):
    """An Ed25519 public key (RFC 8037)."""

    kty = fields.String(required=True, validate=validate.OneOf(("OKP",)))
    crv = fields.String(required=True, validate=validate.OneOf(("Ed25519",)))
    x = fields.String(required=True, metadata={"description": "the public key, base64url"})
    kid = fields.String(required=True)
    alg = fields.String(required=True, validate=validate.OneOf(("EdDSA",)))
    use = fields.String(required=True, validate=validate.OneOf(("sig",)))


class Jwks(Response):
    keys = fields.List(fields.Nested(Jwk), required=True)


class _Definition(Request):
    name = Name(required=True)
    label = Text(required=True)
    type = NamedEnum("ValueType", TYPES, required=True)
    required = fields.Boolean(load_default=False)
    options = fields.List(Text(max_length=200), load_default=list, validate=validate.Length(max=100))

    @validates_schema
    def _options_fit_type(self, data, **kwargs):
        if data.get("type") == "select" and not data.get("options"):
            raise ValidationError("A select needs at least one option.", "options")
        if data.get("type") != "select" and data.get("options"):
            raise ValidationError("Only a select has options.", "options")
        if len(set(data.get("options") or ())) != len(data.get("options") or ()):
            raise ValidationError("Options must be distinct.", "options")


class CharacteristicDefinition(_Definition):
    pass


class CustomFieldCreate(_Definition):
    read_only = ("id",)
    publishedToStorefront = fields.Boolean(load_default=True)


class Fulfillment(Request):
    type = fields.String(required=True, validate=validate.OneOf(("instant", "http")))
    url = fields.Url(require_tld=False, schemes={"http", "https"}, validate=validate.Length(max=500))

    @validates_schema
    def _url_for_http(self, data, **kwargs):
        if data.get("type") == "http" and not data.get("url"):
            raise ValidationError("An http connector needs a url.", "url")
        if data.get("type") == "instant" and data.get("url"):
            raise ValidationError("An instant connector takes no url.", "url")


class Price(fields.String):
    """A non-negative decimal string with at most two decimals."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            price = Decimal(text)
        except InvalidOperation:
            raise ValidationError('Must be a decimal string like "12.50".') from None
        if not price.is_finite() or price < 0 or price > MAX_PRICE or price.as_tuple().exponent < -2:
            raise ValidationError(f"Must be from 0 to {MAX_PRICE} with at most two decimals.")
        return price


class ProductCreate(Request):
    read_only = ("id",)
    sku = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", error="Letters, digits, . _ - (at most 64)."
        ),
    )
    name = Text(required=True)
    billingCycles = fields.List(Text(max_length=40), required=True, validate=validate.Length(min=1, max=20))
    unitPrices = fields.Dict(keys=Text(max_length=40), values=Price(), required=True)
    currency = fields.String(
        required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code like EUR.")
    )
    characteristics = fields.List(
        fields.Nested(CharacteristicDefinition), load_default=list, validate=validate.Length(max=50)
    )
    fulfillment = fields.Nested(Fulfillment, required=True)

    @validates_schema
    def _prices_match_cycles(self, data, **kwargs):
        cycles = data.get("billingCycles") or []
        if len(set(cycles)) != len(cycles):
            raise ValidationError("Billing cycles must be distinct.", "billingCycles")
        prices = data.get("unitPrices")
        if prices is not None and set(prices) != set(cycles):
            raise ValidationError("Give exactly one price per billing cycle.", "unitPrices")
        names = [c["name"] for c in data.get("characteristics") or []]
        if len(set(names)) != len(names):
            raise ValidationError("Characteristic names must be distinct.", "characteristics")


class CharacteristicDefinitionOut(Response):
    name = fields.String(required=True)
    label = fields.String(required=True)
    type = NamedEnum("ValueType", TYPES, required=True)
    required = fields.Boolean(required=True)
    options = fields.List(fields.String(), required=True)


class Product(Response):
    id = Id(required=True)
    sku = fields.String(required=True)
    name = fields.String(required=True)
    billingCycles = fields.List(fields.String(), required=True)
    unitPrices = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    currency = fields.String(required=True)
    characteristics = fields.List(fields.Nested(CharacteristicDefinitionOut), required=True)


class CustomFieldDefinition(CharacteristicDefinitionOut):
    publishedToStorefront = fields.Boolean(required=True)
