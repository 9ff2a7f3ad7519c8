"""The hotline's call flow: book, check, move and cancel, office information, notices, operators.

Written for a whole province (65 offices) and for callers who are often elderly: the caller may
say what they want in one sentence at the first menu, or the name of their commune or ward when
asked; keys always work, and no menu offers more than four choices before "other". Effects named
here are implemented at the edge (`hotline/ivr/effects.py`); a test checks that every effect has
an implementation and every prompt a text.
"""

from __future__ import annotations

from ivr_flows.model import (
    Choices, Each, Flow, Input, Listen, State, date, digits, message, number, phone, say, text, time,
)

YES_NO = {"có": "1", "đúng": "1", "đồng ý": "1", "xác nhận": "1", "phải": "1", "yes": "1", "confirm": "1",
          "không": "2", "sai": "2", "no": "2"}
BACK = {"*": "main_menu"}

# "The result is expected on …", when the booking's procedure states how many working days it takes.
RESULT_DATE = Each("booking.results", say("booked_result", date=date("item.date")), optional=True)
SESSION_WORDS = dict(part=message("item.part"), date=date("item.date"), left=text("item.left_note"), n=text("n"))

# Where a call we place begins instead of `start` (hotline/campaign_calls.py stores it with the call's row).
ENTRIES = ("campaign_call",)

HOTLINE = Flow.of("hotline", start="identify", no_answer="no_answer", states=[
    State("identify", effect="identify_caller", outcomes={"ok": "greeting", "no_province": "greeting_plain"}),
    State("greeting", say=(say("welcome", province=text("province")), say("language_offer")), next="main_menu"),
    State("greeting_plain", say=(say("welcome_plain"), say("language_offer")), next="main_menu"),
    State("main_menu", say=(say("main_menu"),),
          keys={"1": "book", "2": "manage", "3": "info", "4": "notices", "0": "operator", "9": "english"},
          listen=Listen("request", then="understand_request", hints="request_hints")),
    State("english", effect="set_language_en", outcomes={"ok": "main_menu"}),
    State("no_answer", next="operator"),

    # What the caller said at the first menu, in their own words.
    State("understand_request", effect="understand_request", outcomes={
        "book_ready": "need_phone", "book_sessions": "list_sessions", "book_office_unsure": "office_read_back",
        "book": "book", "manage": "manage", "info": "info", "notices": "notices", "operator": "operator",
        "limit": "too_many", "not_understood": "not_understood", "give_up": "operator", "online": "online_note"}),
    # A procedure that can be filed online is said to be so once, before anything is booked; then on as asked.
    State("online_note", say=(say("online_possible"),), next="resume_request"),
    State("resume_request", effect="resume_request", outcomes={
        "book_ready": "need_phone", "book_sessions": "list_sessions", "book_office_unsure": "office_read_back",
        "book": "book"}),
    State("not_understood", say=(say("not_understood"),), next="main_menu"),

    # Booking: the booking limit first, then office, session, phone, hold, confirm.
    State("book", effect="check_limit", outcomes={"ok": "office_options", "limit": "too_many"}),
    State("office_options", effect="office_options", outcomes={
        "last": "last_office", "ask": "ask_office", "only": "office_chosen"}),
    State("last_office", say=(say("last_office", office=text("last_office.name")),),
          keys={"1": "take_last_office", "2": "ask_office", **BACK}, speech=YES_NO),
    State("take_last_office", effect="take_last_office", outcomes={"ok": "office_chosen"}),
    State("ask_office", say=(say("ask_office"),),
          keys={"1": "province_office", "2": "ask_letter", **BACK},
          listen=Listen("office_said", then="match_office", hints="office_hints")),
    State("match_office", effect="match_office", outcomes={
        "sure": "office_chosen", "unsure": "office_read_back", "none": "office_not_heard",
        "give_up": "office_list"}),
    State("office_not_heard", say=(say("office_not_heard"),), next="ask_office"),
    State("office_read_back", say=(say("office_read_back", office=text("office.name")),),
          keys={"1": "office_chosen", "2": "ask_office"}, speech=YES_NO),
    State("province_office", effect="province_office", outcomes={"ok": "office_chosen", "none": "office_list"}),
    # A keypad path that needs no office number: the key of the name's first letter (Năm Căn: 6, as on a
    # phone's keypad), then those offices four at a time; 0 for all of them.
    State("ask_letter", say=(say("ask_letter"),), input=Input("letter", then="offices_by_letter", max_digits=1)),
    State("offices_by_letter", effect="offices_by_letter", outcomes={
        "one": "office_chosen", "some": "office_list", "none": "no_office_letter"}),
    State("no_office_letter", say=(say("no_office_letter"),), next="ask_letter"),
    State("office_list", effect="office_page", outcomes={"ok": "choose_office"}),
    State("choose_office", say=(say("choose_office"),),
          choices=Choices("offices", say("office_choice", name=text("item.name"), n=text("n")),
                          store="office", then="office_chosen", limit=4),
          then_say=(say("office_more"), say("back_to_menu")),
          keys={"9": "office_list", **BACK}),
    # The kind of dossier is not asked for (it cost callers ten seconds); a request that names one records it.
    State("office_chosen", effect="list_sessions", outcomes={"some": "choose_session", "none": "no_room"}),
    State("list_sessions", effect="list_sessions", outcomes={"some": "choose_session", "none": "no_room"}),
    State("choose_session", say=(say("sessions_intro", at=text("office.heard_as")),),
          choices=Choices("sessions", say("session_choice", **SESSION_WORDS), store="session", then="need_phone",
                          limit=4),
          then_say=(say("back_to_menu"),), keys=BACK),
    # No room at the office: its soonest full session's waitlist first (1), or other offices' sessions (2, silence).
    State("no_room", effect="soonest_full", outcomes={"full": "no_room_waitlist", "none": "no_room_elsewhere"}),
    State("no_room_elsewhere", say=(say("no_room", office=text("office.name")),), next="find_alternatives"),
    State("no_room_waitlist", say=(say("no_room", office=text("office.name")),
                                   say("waitlist_soonest", part=message("session.part"), date=date("session.date"))),
          keys={"1": "waitlist_phone", "2": "find_alternatives"}, speech=YES_NO, on_silence="find_alternatives"),
    State("waitlist_phone", effect="caller_mobile", outcomes={"mobile": "join_soonest", "missing": "waitlist_ask_phone"}),
    State("waitlist_ask_phone", say=(say("waitlist_ask_phone"),),
          input=Input("typed_phone", then="waitlist_check_phone", max_digits=14)),
    State("waitlist_check_phone", effect="check_typed_phone", outcomes={
        "ok": "waitlist_read_back", "invalid": "waitlist_phone_invalid"}),
    State("waitlist_phone_invalid", say=(say("phone_invalid"),), next="waitlist_ask_phone"),
    State("waitlist_read_back", say=(say("phone_read_back", phone=phone("typed_mobile")),),
          keys={"1": "waitlist_accept_phone", "2": "waitlist_ask_phone"}, speech=YES_NO),
    State("waitlist_accept_phone", effect="accept_typed_phone", outcomes={"ok": "join_soonest"}),
    State("join_soonest", effect="join_waitlist", outcomes={
        "joined": "waitlist_joined", "room": "hold", "refused": "find_alternatives"}),
    State("find_alternatives", effect="list_alternatives",
          outcomes={"some": "choose_alternative", "none": "no_room_anywhere"}),
    State("choose_alternative", say=(say("alternatives_intro"),),
          choices=Choices("sessions", say("alternative_choice", office=text("item.office"), **SESSION_WORDS),
                          store="session", then="need_phone", limit=4),
          then_say=(say("back_to_menu"),), keys=BACK),
    State("no_room_anywhere", say=(say("no_room_anywhere"),), next="operator"),
    State("need_phone", effect="caller_mobile", outcomes={"mobile": "hold", "missing": "ask_phone"}),
    State("ask_phone", say=(say("ask_phone"),), input=Input("typed_phone", then="check_phone", max_digits=14)),
    State("check_phone", effect="check_typed_phone", outcomes={"ok": "read_back_phone", "invalid": "phone_invalid"}),
    State("phone_invalid", say=(say("phone_invalid"),), next="ask_phone"),
    State("read_back_phone", say=(say("phone_read_back", phone=phone("typed_mobile")),),
          keys={"1": "accept_phone", "2": "ask_phone"}, speech=YES_NO),
    State("accept_phone", effect="accept_typed_phone", outcomes={"ok": "hold"}),
    State("hold", effect="hold_seat", outcomes={
        "held": "confirm_hold", "full": "session_full", "limit": "too_many", "already": "already_booked",
        "closed": "session_gone"}),
    State("session_gone", say=(say("session_gone"),), next="list_sessions"),
    # A full session: one key puts the caller on its waitlist (called, then texted, when a place comes free).
    State("session_full", say=(say("session_gone"), say("waitlist_offer")),
          keys={"1": "join_waitlist", "2": "list_sessions"}, speech=YES_NO, on_silence="list_sessions"),
    State("join_waitlist", effect="join_waitlist", outcomes={
        "joined": "waitlist_joined", "room": "hold", "refused": "list_sessions"}),
    State("waitlist_joined", say=(say("waitlist_joined", phone=phone("phone")),), next="goodbye"),
    State("too_many", say=(say("too_many"),), next="main_menu"),
    State("already_booked", say=(say("already_booked"),), next="list_sessions"),
    # The office is read back only when the caller did not just choose it (a spoken request, another office).
    State("confirm_hold", say=(say("held_confirm", lead=text("session.lead"), part=message("session.part"),
                                   date=date("session.date")),),
          keys={"1": "confirm", "2": "choose_again"}, speech=YES_NO, on_silence="release_and_end"),
    State("choose_again", effect="release_hold", outcomes={"ok": "list_sessions"}),
    State("release_and_end", effect="release_hold", outcomes={"ok": "goodbye"}),
    State("confirm", effect="confirm_hold", outcomes={"booked": "booked", "expired": "hold_expired"}),
    State("hold_expired", say=(say("hold_expired"),), next="list_sessions"),
    State("booked", say=(say("booked", queue=number("booking.queue_number"), part=message("booking.part"),
                             date=date("booking.date"), start=time("booking.start"), end=time("booking.end")),
                         say("booked_where", address=text("booking.address")),
                         say("booked_bring", documents=text("booking.documents")),
                         say("booked_code", code=digits("booking.code"))),
          each=RESULT_DATE, then_say=(say("sms_will_follow"),), next="booked_menu"),
    State("booked_menu", say=(say("booked_menu"),), keys={"1": "booked", "2": "main_menu"},
          retries=1, on_silence="goodbye"),

    # Checking, moving and cancelling.
    # A caller whose number the network did not present (withheld, a landline) finds a booking by its code.
    State("manage", effect="caller_bookings", outcomes={"some": "choose_booking", "none": "no_bookings",
                                                        "unknown_caller": "ask_code_hidden"}),
    State("no_bookings", say=(say("no_bookings"),), next="ask_code"),
    State("ask_code_hidden", say=(say("hidden_number"),), next="ask_code"),
    State("choose_booking", say=(say("bookings_intro"),),
          choices=Choices("bookings", say("booking_choice", part=message("item.part"), date=date("item.date"),
                                          office=text("item.office"), n=text("n")),
                          store="booking", then="booking_detail", limit=4),
          then_say=(say("bookings_other"), say("back_to_menu")), keys={"8": "ask_code", **BACK}),
    State("ask_code", say=(say("ask_code"),), input=Input("typed_code", then="find_code", max_digits=9, min_digits=9)),
    State("find_code", effect="find_by_code", outcomes={
        "found": "booking_detail", "invalid": "code_invalid", "unknown": "code_unknown",
        "too_many": "code_tries_exceeded"}),
    State("code_tries_exceeded", say=(say("code_tries_exceeded"),), next="operator"),
    State("code_invalid", say=(say("code_invalid"),), next="ask_code"),
    State("code_unknown", say=(say("code_unknown"),), next="main_menu"),
    State("booking_detail", say=(say("booking_detail", queue=number("booking.queue_number"),
                                     part=message("booking.part"), date=date("booking.date"),
                                     office=text("booking.office"), start=time("booking.start"),
                                     end=time("booking.end")),),
          each=RESULT_DATE, next="booking_actions"),
    State("booking_actions", effect="booking_is_active", outcomes={"active": "booking_menu", "past": "not_active"}),
    State("not_active", say=(say("booking_not_active"),), next="main_menu"),
    State("booking_menu", say=(say("booking_detail_menu"), say("back_to_menu")),
          keys={"1": "confirm_cancel", "2": "list_move_sessions", "3": "booking_detail", **BACK},
          speech={"hủy": "1", "cancel": "1", "đổi": "2", "dời": "2", "move": "2", "nghe lại": "3"}),
    State("confirm_cancel", say=(say("confirm_cancel"),), keys={"1": "cancel", "2": "main_menu"}, speech=YES_NO),
    State("cancel", effect="cancel_booking", outcomes={"cancelled": "cancelled", "failed": "cancel_failed"}),
    State("cancelled", say=(say("cancelled"),), next="main_menu"),
    State("cancel_failed", say=(say("cancel_failed"),), next="main_menu"),
    # Rescheduling: another session at the same office.
    State("list_move_sessions", effect="list_move_sessions", outcomes={"some": "choose_move", "none": "no_move"}),
    State("choose_move", say=(say("move_intro"),),
          choices=Choices("sessions", say("session_choice", **SESSION_WORDS), store="move_to", then="confirm_move",
                          limit=4),
          then_say=(say("back_to_menu"),), keys=BACK),
    State("no_move", say=(say("no_move"),), next="main_menu"),
    State("confirm_move", say=(say("confirm_move", part=message("move_to.part"), date=date("move_to.date")),),
          keys={"1": "move", "2": "main_menu"}, speech=YES_NO),
    State("move", effect="move_booking", outcomes={"moved": "moved", "failed": "move_failed"}),
    State("moved", say=(say("moved", queue=number("booking.queue_number"), part=message("booking.part"),
                            date=date("booking.date"), start=time("booking.start"), end=time("booking.end")),),
          each=RESULT_DATE, then_say=(say("sms_will_follow"),), next="main_menu"),
    State("move_failed", say=(say("move_failed"),), next="list_move_sessions"),

    # Information about an office: where it is, when it opens, the rules; notices by SMS.
    State("info", effect="info_office_options", outcomes={"last": "info_last_office", "ask": "info_ask_office"}),
    State("info_last_office", say=(say("info_last_office", office=text("last_office.name")),),
          keys={"1": "info_take_last", "2": "info_ask_office", **BACK}, speech=YES_NO),
    State("info_take_last", effect="take_last_office", outcomes={"ok": "load_info"}),
    State("info_ask_office", say=(say("info_ask_office"),),
          keys={"1": "info_province", "2": "info_letter", **BACK},
          listen=Listen("office_said", then="info_match_office", hints="office_hints")),
    State("info_match_office", effect="match_office", outcomes={
        "sure": "load_info", "unsure": "load_info", "none": "info_not_heard", "give_up": "info_list"}),
    State("info_not_heard", say=(say("office_not_heard"),), next="info_ask_office"),
    State("info_province", effect="province_office", outcomes={"ok": "load_info", "none": "info_list"}),
    State("info_letter", say=(say("ask_letter"),), input=Input("letter", then="info_by_letter", max_digits=1)),
    State("info_by_letter", effect="offices_by_letter", outcomes={
        "one": "load_info", "some": "info_list", "none": "info_no_letter"}),
    State("info_no_letter", say=(say("no_office_letter"),), next="info_letter"),
    State("info_list", effect="office_page", outcomes={"ok": "info_choose"}),
    State("info_choose", say=(say("choose_office"),),
          choices=Choices("offices", say("office_choice", name=text("item.name"), n=text("n")),
                          store="office", then="load_info", limit=4),
          then_say=(say("office_more"), say("back_to_menu")), keys={"9": "info_list", **BACK}),
    State("load_info", effect="office_info", outcomes={"ok": "say_info"}),
    State("say_info", say=(say("office_address", office=text("office.name"), address=text("office.address")),
                           say("office_hours", hours=text("office.hours"))),
          then_say=(say("office_rules", crowd=number("office.crowd_limit")),), next="info_menu"),
    State("info_menu", say=(say("info_menu"), say("back_to_menu")),
          keys={"1": "say_info", "2": "notices", **BACK}),

    # Notices by SMS: opting out and back in (Twilio brings no SMS replies from Vietnam).
    State("notices", effect="notice_status", outcomes={
        "receiving": "notices_in", "stopped": "notices_out", "no_mobile": "notices_need_mobile"}),
    State("notices_in", say=(say("notices_in"), say("back_to_menu")), keys={"1": "opt_out", **BACK}),
    State("notices_out", say=(say("notices_out"), say("back_to_menu")), keys={"1": "opt_in", **BACK}),
    State("notices_need_mobile", say=(say("notices_need_mobile"),), next="main_menu"),
    State("opt_out", effect="opt_out", outcomes={"ok": "opted_out"}),
    State("opt_in", effect="opt_in", outcomes={"ok": "opted_in"}),
    State("opted_out", say=(say("opted_out"),), next="main_menu"),
    State("opted_in", say=(say("opted_in"),), next="main_menu"),

    # Operators, and a call-back when none answers.
    State("operator", effect="operators_open", outcomes={"open": "dial_operator", "closed": "operators_closed"}),
    State("operators_closed", say=(say("operators_closed", opens=time("operator_hours.opens"),
                                       closes=time("operator_hours.closes")),), next="offer_callback"),
    State("dial_operator", say=(say("connecting"),), dial=True,
          outcomes={"answered": "goodbye", "unanswered": "offer_callback"}),
    State("offer_callback", say=(say("offer_callback"),), keys={"1": "record_callback", "2": "main_menu"},
          speech=YES_NO, retries=1, on_silence="goodbye"),
    State("record_callback", effect="record_callback", outcomes={"ok": "callback_recorded",
                                                                 "no_number": "ask_callback_phone"}),
    State("ask_callback_phone", say=(say("ask_callback_phone"),),
          input=Input("callback_typed", then="record_typed_callback", max_digits=14), on_silence="goodbye"),
    State("record_typed_callback", effect="record_typed_callback", outcomes={
        "ok": "callback_recorded", "invalid": "callback_phone_invalid"}),
    State("callback_phone_invalid", say=(say("phone_invalid"),), next="ask_callback_phone"),
    State("callback_recorded", say=(say("callback_recorded", phone=phone("callback_phone"),
                                        by=text("callback_by")),), next="goodbye"),
    State("goodbye", say=(say("goodbye"),), hangup=True),

    # An outbound campaign's call (hotline/campaign_calls.py): the office is the campaign's, the number the one we
    # rang; the soonest sessions with room are offered and booked as above, or refused with 9.
    State("campaign_call", effect="campaign_call", outcomes={"ok": "campaign_greeting", "over": "campaign_over"}),
    State("campaign_over", say=(say("campaign_over"),), hangup=True),
    State("campaign_greeting", say=(say("campaign_greeting", office=text("office.name")),), next="campaign_sessions"),
    State("campaign_sessions", effect="list_sessions", outcomes={"some": "campaign_choose", "none": "no_room"}),
    State("campaign_choose", say=(say("campaign_offer"),),
          choices=Choices("sessions", say("session_choice", **SESSION_WORDS), store="session", then="need_phone",
                          limit=4),
          then_say=(say("campaign_decline_key"),), keys={"9": "campaign_decline"},
          speech={"không": "9", "no": "9"}, on_silence="goodbye"),
    State("campaign_decline", effect="campaign_declined", outcomes={"ok": "campaign_declined"}),
    State("campaign_declined", say=(say("campaign_declined"),), hangup=True),
])
