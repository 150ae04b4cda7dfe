from console.testing.redis_server import own_redis  # noqa: F401 - a Redis of the test's own
