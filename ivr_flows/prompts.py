"""Every sentence the hotline speaks, in English; Vietnamese comes from the translation catalogue.

Keys are what flows refer to; the texts are marked for extraction so that `pybabel extract`
finds them, and the edge translates them in the caller's language when it renders a turn.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a message for extraction; translation happens at the edge."""
    return message


PROMPTS: dict[str, str] = {
    "welcome": N_("Welcome to the public administration hotline."),
    "language_offer": N_("For English, press 9."),
    "main_menu": N_("To book an appointment to file a dossier, press 1. To check or cancel your appointment, "
                    "press 2. For office hours, addresses and the rules for visiting, press 3. To stop or "
                    "resume notices by text message, press 4. To speak to an operator, press 0."),
    "wrong_key": N_("Sorry, that key is not one of the choices."),
    "silence": N_("Sorry, we did not hear your choice."),
    "back_to_menu": N_("For the main menu, press star."),
    # Choosing an office
    "choose_office": N_("Please choose the office."),
    "office_choice": N_("For %(name)s, press %(n)s."),
    "office_other": N_("For another office, press 8 and type its number."),
    "type_office": N_("Please type the office's number, then the hash key."),
    "office_unknown": N_("There is no office with that number."),
    "choose_field": N_("Which kind of dossier will you file?"),
    "field_choice": N_("For %(field)s, press %(n)s."),
    "field_skip": N_("If you are not sure, press 0."),
    # Choosing a session
    "sessions_intro": N_("Sessions with free places at %(office)s:"),
    "session_choice": N_("%(date)s, %(part)s: %(left)s places left, press %(n)s."),
    "no_room": N_("%(office)s has no free places in the coming days."),
    "alternatives_intro": N_("These offices nearby have free places:"),
    "alternative_choice": N_("%(office)s, %(date)s, %(part)s: %(left)s places left, press %(n)s."),
    "no_room_anywhere": N_("Sorry, no office has free places at the moment."),
    "morning": N_("morning"),
    "afternoon": N_("afternoon"),
    "session": N_("session"),
    # The phone number for the SMS
    "ask_phone": N_("We need your mobile number to send you the confirmation by text message. Please type it, "
                    "then the hash key."),
    "phone_invalid": N_("That is not a Vietnamese mobile number."),
    "phone_read_back": N_("You typed %(phone)s. If this is right, press 1. To type it again, press 2."),
    # Holding and confirming
    "held_confirm": N_("You chose %(office)s, %(date)s, %(part)s. To confirm, press 1. To choose another "
                       "session, press 2."),
    "session_gone": N_("Sorry, that session has just filled up."),
    "too_many": N_("This phone number already has as many upcoming appointments as allowed. Please cancel one "
                   "first."),
    "already_booked": N_("This phone number already has an appointment in that session."),
    "hold_expired": N_("Sorry, the place was held for too long and has been released."),
    "booked": N_("Your appointment is booked. Your booking code is %(code)s. Your queue number is %(queue)s. "
                 "Please come on %(date)s between %(start)s and %(end)s to %(office)s, and bring your "
                 "documents."),
    "sms_will_follow": N_("A text message with these details will be sent to %(phone)s."),
    "booked_menu": N_("To hear this again, press 1. For the main menu, press 2. Otherwise you may hang up."),
    # Checking and cancelling
    "bookings_intro": N_("Your upcoming appointments:"),
    "booking_choice": N_("%(date)s, %(part)s, at %(office)s, queue number %(queue)s: press %(n)s."),
    "bookings_other": N_("To find an appointment by its code, press 8."),
    "no_bookings": N_("We found no upcoming appointment for this phone number."),
    "ask_code": N_("Please type the nine digits of your booking code."),
    "code_invalid": N_("That booking code is not valid; please check the digits."),
    "code_unknown": N_("We found no appointment with that code."),
    "code_tries_exceeded": N_("Several codes have been tried on this call. We will put you through to an operator."),
    "booking_detail": N_("Appointment %(code)s: %(date)s, %(part)s, at %(office)s, queue number %(queue)s, "
                         "arrival between %(start)s and %(end)s."),
    "booking_detail_menu": N_("To cancel this appointment, press 1. To hear it again, press 2."),
    "booking_not_active": N_("This appointment can no longer be changed."),
    "confirm_cancel": N_("To confirm the cancellation, press 1. To keep the appointment, press 2."),
    "cancelled": N_("Your appointment has been cancelled."),
    "cancel_failed": N_("Sorry, this appointment could not be cancelled."),
    # Information
    "info_choose": N_("Which office would you like to hear about?"),
    "office_address": N_("%(office)s is at %(address)s."),
    "office_day": N_("%(date)s: %(part)s session from %(start)s to %(end)s."),
    "office_rules": N_("Dossiers are received by appointment only. At most %(crowd)s people may be inside at "
                       "once, so please come within your arrival time, bring the original documents and "
                       "copies for your dossier, and follow the staff's instructions."),
    "info_menu": N_("To hear this again, press 1."),
    # Notices by SMS
    "notices_in": N_("This number receives the province's notices by text message. To stop them, press 1."),
    "notices_out": N_("This number does not receive the province's notices. To receive them again, press 1."),
    "notices_need_mobile": N_("Notices go to mobile phones only; please call from your mobile phone to change "
                              "this."),
    "opted_out": N_("Done. You will no longer receive notices. You will still receive messages about your own "
                    "appointments."),
    "opted_in": N_("Done. You will receive the province's notices again."),
    # Operators and call-backs
    "connecting": N_("Please hold while we connect you to an operator."),
    "operators_closed": N_("Operators answer from %(opens)s to %(closes)s on working days."),
    "offer_callback": N_("No operator can answer right now. To be called back, press 1. For the main menu, "
                         "press 2."),
    "callback_recorded": N_("Thank you. An operator will call you back at %(phone)s."),
    "callback_no_number": N_("We cannot call back a hidden number. Please call again later."),
    "goodbye": N_("Thank you for calling. Goodbye."),
    "error": N_("Sorry, something went wrong. Please call again in a few minutes."),
}

# Prompts always said in one language, whatever the caller chose (the offer of English is in English).
FIXED_LANGUAGE: dict[str, str] = {"language_offer": "en"}
