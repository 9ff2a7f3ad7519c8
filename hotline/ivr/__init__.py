"""The voice channel: Twilio webhooks, the effects of the call flow, and TwiML rendering."""
