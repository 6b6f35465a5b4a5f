"""Local stand-ins for the chat platforms: HTTP servers on 127.0.0.1 that speak the Slack Web API
and the Telegram Bot API, so the real client libraries run unchanged in tests and benchmarks."""
