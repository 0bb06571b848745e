"""What the service does, apart from HTTP: each function is one use case."""
