"""Every SMS the system sends: the durable outbox, message texts, senders and broadcasts."""
