"""Call flows as data, and the small engine that walks them; nothing here knows Twilio or Flask."""
