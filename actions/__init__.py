"""What people do with the hotline: one function per action, the same for every channel.

The IVR, the console, the API, SMS replies, the command line and the scheduler do not compose
work themselves. Each parses its input, builds a `Context` (the database session, who is acting
and how we know it, the clock, the policies, the localiser) and calls one function here, which
in that one transaction authorises, applies the domain's rules (`booking/`), queues the notices
(`notifications/`) and writes the audit entry. The edge then renders what came back, or the
`BookingError` that stopped it. So a rule, a text or an audit entry cannot differ by channel.

Imports point inward: `actions` may import `accounts`, `booking`, `database` and `notifications`,
never Flask, Twilio or `hotline`. The audit log is this layer's own (`actions.audit`, `actions.models`).
"""
