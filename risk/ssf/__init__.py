"""OpenID Shared Signals Framework 1.0 transmitter. Other features share signals through
``risk.ssf.publish``; see docs/ssf.md."""
