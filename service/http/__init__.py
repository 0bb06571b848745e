"""HTTP plumbing: middleware, request parsing, responses, the OpenAPI document."""
