"""marshmallow schemas: request schemas validate input; response schemas
describe output for the OpenAPI document and are checked against real
responses in the tests."""
