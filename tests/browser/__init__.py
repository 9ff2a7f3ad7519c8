"""Browser tests: Debian's headless Chromium driven by Playwright against a live server."""
