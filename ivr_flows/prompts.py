"""Every sentence the hotline speaks, in English; Vietnamese comes from the translation catalogue.

Keys are what flows refer to; the texts are marked for extraction so that `pybabel extract`
finds them, and the edge translates them in the caller's language when it renders a turn.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a message for extraction; translation happens at the edge."""
    return message


PROMPTS: dict[str, str] = {
    "welcome": N_("The public administration hotline of %(province)s welcomes you."),
    "welcome_plain": N_("The public administration hotline welcomes you."),
    "language_offer": N_("For English, press 9."),
    "main_menu": N_("Please say what you need. To book, press 1. To check, move or cancel, press 2. For "
                "addresses and hours, press 3. For an operator, press 0."),
    "main_menu_keys": N_("To book an appointment, press 1. To check, move or cancel one, press 2. For addresses "
                         "and opening hours, press 3. For an operator, press 0."),
    "ask_office_keys": N_("For the province centre, press 1. To choose your commune or ward from a list, press 2."),
    "info_ask_office_keys": N_("Which office? For the province centre, press 1. To choose from a list, press 2."),
    "not_understood": N_("Sorry, we did not understand."),
    "wrong_key": N_("Sorry, that key is not one of the choices."),
    "silence": N_("Sorry, we did not hear your answer."),
    "back_to_menu": N_("For the main menu, press star."),
    "online_possible": N_("This procedure can also be filed online at the public services portal; you may still "
                          "book."),
    # Choosing an office
    "last_office": N_("Last time you booked at %(office)s. To book there again, press 1. For another office, "
                "press 2."),
    "ask_office": N_("Please say your commune or ward. For the province centre, press 1. For a list, press 2."),
    "ask_letter": N_("Press the key with the first letter of the name, as on the phone's keypad: for Nam Can, 6. "
                     "For every office, press 0."),
    "no_office_letter": N_("No office's name starts with a letter on that key."),
    "office_not_heard": N_("Sorry, we did not catch the name."),
    "office_read_back": N_("Did you mean %(office)s? If yes, press 1. If not, press 2."),
    "choose_office": N_("Please choose:"),
    "office_choice": N_("%(name)s, press %(n)s."),
    "office_more": N_("For more, press 9."),
    # Choosing a session
    "sessions_intro": N_("Sessions with places%(at)s:"),
    "session_choice": N_("%(date)s, %(part)s%(left)s, press %(n)s."),
    "no_room": N_("%(office)s has no free places in the coming days."),
    "alternatives_intro": N_("These offices have places:"),
    "alternative_choice": N_("%(office)s, %(date)s, %(part)s%(left)s, press %(n)s."),
    "no_room_anywhere": N_("Sorry, no office has free places at the moment."),
    "morning": N_("morning"),
    "afternoon": N_("afternoon"),
    "session": N_("session"),
    # The phone number for the SMS
    "ask_phone": N_("Please type the mobile number for the confirmation text, then the hash key."),
    "phone_invalid": N_("That is not a Vietnamese mobile number."),
    "phone_read_back": N_("You typed %(phone)s. If this is right, press 1. To type it again, press 2."),
    # Holding and confirming
    "held_confirm": N_("%(lead)s%(date)s, %(part)s. To confirm, press 1. For another session, press 2."),
    "session_gone": N_("Sorry, that session has just filled up."),
    "waitlist_offer": N_("To wait for a place in it, press 1. For another session, press 2."),
    "waitlist_soonest": N_("The soonest session, %(date)s, %(part)s, is full. To wait for a place in it, press 1. "
                           "For other offices, press 2."),
    "waitlist_ask_phone": N_("Please type the mobile number we should call when a place comes free, then the hash "
                             "key."),
    "waitlist_joined": N_("You are on the waitlist. If a place comes free we will call %(phone)s, then send a text."),
    "too_many": N_("This phone number already has as many upcoming appointments as allowed. Please cancel one "
                "first."),
    "already_booked": N_("This phone number already has an appointment in that session."),
    "hold_expired": N_("Sorry, the place was held for too long and has been released."),
    "booked": N_("Booked. Your queue number is %(queue)s, %(date)s, %(part)s. Please arrive between %(start)s "
                "and %(end)s."),
    "booked_where": N_("Address: %(address)s."),
    "booked_bring": N_("Please bring %(documents)s."),
    "booked_code": N_("Your booking code is %(code)s."),
    "booked_result": N_("The result is expected on %(date)s."),
    "sms_will_follow": N_("A text message with these details will follow."),
    "booked_menu": N_("To hear this again, press 1. For the main menu, press 2."),
    # Checking, moving and cancelling
    "bookings_intro": N_("Your upcoming appointments:"),
    "booking_choice": N_("%(date)s, %(part)s at %(office)s, press %(n)s."),
    "bookings_other": N_("To find an appointment by its code, press 8."),
    "no_bookings": N_("We found no upcoming appointment for this phone number."),
    "hidden_number": N_("Your number is hidden, so we will find your appointment by its code."),
    "ask_code": N_("Please type the nine digits of your booking code."),
    "code_invalid": N_("That booking code is not valid; please check the digits."),
    "code_unknown": N_("We found no appointment with that code."),
    "code_tries_exceeded": N_("Several codes have been tried on this call. We will put you through to an operator."),
    "booking_detail": N_("Queue number %(queue)s, %(date)s, %(part)s, at %(office)s, arriving between %(start)s and "
                "%(end)s."),
    "booking_detail_menu": N_("To cancel it, press 1. To move it to another session, press 2. To hear it again, press 3."),
    "booking_not_active": N_("This appointment can no longer be changed."),
    "confirm_cancel": N_("To confirm the cancellation, press 1. To keep the appointment, press 2."),
    "cancelled": N_("Your appointment has been cancelled."),
    "cancel_failed": N_("Sorry, this appointment could not be cancelled."),
    "move_intro": N_("Sessions you can move to:"),
    "no_move": N_("This office has no other session with places in the coming days."),
    "confirm_move": N_("Move to %(date)s, %(part)s? To confirm, press 1. To keep the current appointment, press 2."),
    "moved": N_("Moved. Your new queue number is %(queue)s, %(date)s, %(part)s. Please arrive between "
                "%(start)s and %(end)s."),
    "move_failed": N_("Sorry, that session has just filled up."),
    # Information
    "info_last_office": N_("Would you like to hear about %(office)s? If yes, press 1. For another office, press 2."),
    "info_ask_office": N_("Which office? Please say the name of the commune or ward. For the province centre, press "
                "1. To choose from a list, press 2."),
    "office_address": N_("%(office)s is at %(address)s."),
    "office_hours": N_("Opening hours: %(hours)s."),
    "office_rules": N_("Dossiers are received by appointment. At most %(crowd)s people may be inside at once, so "
                "please come within your arrival time."),
    "info_menu": N_("To hear this again, press 1. To stop or resume notices by text message, press 2."),
    # Notices by SMS
    "notices_in": N_("This number receives the province's notices by text message. To stop them, press 1."),
    "notices_out": N_("This number does not receive the province's notices. To receive them again, press 1."),
    "notices_need_mobile": N_("Notices go to mobile phones only; please call from your mobile phone to change this."),
    "opted_out": N_("Done. You will no longer receive notices. You will still receive messages about your own "
                "appointments."),
    "opted_in": N_("Done. You will receive the province's notices again."),
    # Operators and call-backs
    "connecting": N_("Please hold while we connect you to an operator."),
    "operators_closed": N_("Operators answer from %(opens)s to %(closes)s on working days."),
    "offer_callback": N_("No operator can answer right now. To be called back, press 1. For the main menu, press 2."),
    "ask_callback_phone": N_("Your number is hidden. Please type a number we can call you back on, then the hash key."),
    "callback_recorded": N_("Thank you. An operator will call you back at %(phone)s %(by)s."),
    "goodbye": N_("Thank you for calling. Goodbye."),
    "error": N_("Sorry, something went wrong. Please call again in a few minutes."),
    # Outbound campaign calls
    "campaign_greeting": N_("This is the Public Administration Service Centre, %(office)s, calling to help you book "
                            "an appointment."),
    "campaign_offer": N_("The soonest sessions with places:"),
    "campaign_decline_key": N_("If you do not wish to book, press 9."),
    "campaign_declined": N_("Thank you. We will not call you again about this. Goodbye."),
    "campaign_over": N_("Sorry, this call is no longer needed. Goodbye."),
}

# The variant of a prompt said when speech is off: it must not ask the caller to speak.
KEYS_ONLY = "_keys"

# Prompts always said in one language, whatever the caller chose (the offer of English is in English).
FIXED_LANGUAGE: dict[str, str] = {"language_offer": "en"}
