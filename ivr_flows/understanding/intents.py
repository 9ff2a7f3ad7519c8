"""What the caller wants done, from the phrases they use for it."""

from __future__ import annotations

from ivr_flows.understanding.slots import Intent
from ivr_flows.understanding.words import Words

# First listed, first chosen: "hủy nhận thông báo" is about notices, "hủy lịch hẹn" a cancellation,
# "đổi lịch đã đặt" a new date, "kiểm tra lịch hẹn" a check, although each also holds "hẹn" or "đặt".
PHRASES: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    ("operator", ("tổng đài viên", "gặp tổng đài", "gặp người", "người thật", "nhân viên", "cán bộ", "nói chuyện",
                  "operator")),
    ("notices", ("thông báo", "tin nhắn", "nhắn tin", "sms", "notice", "notices")),
    ("reschedule", ("đổi lịch", "đổi hẹn", "đổi ngày", "đổi buổi", "đổi giờ", "đổi sang", "đổi qua", "đổi lại",
                    "dời", "chuyển lịch", "chuyển hẹn", "chuyển sang", "chuyển qua", "lùi", "hoãn", "reschedule")),
    ("cancel", ("hủy", "bỏ lịch", "bỏ hẹn", "không đi nữa", "không đến nữa", "không tới nữa", "không lên nữa",
                "cancel")),
    ("check", ("kiểm tra", "xem lịch", "xem lại", "tra cứu", "tra lịch", "lịch của tôi", "lịch hẹn của tôi",
               "nhắc lại", "check")),
    ("book", ("đặt lịch", "đặt hẹn", "đặt chỗ", "đặt", "hẹn", "lấy số", "lấy lịch", "đăng ký lịch", "book")),
    ("info", ("thông tin", "giờ làm việc", "mấy giờ", "địa chỉ", "ở đâu", "mang theo", "cần mang", "giấy tờ gì",
              "cần gì", "những gì", "có làm việc", "mở cửa", "hỏi", "information")),
)


def find_intent(words: Words) -> Intent:
    """The first intent in PHRASES that the words say, taking its words; "unknown" when none."""
    chosen: Intent = "unknown"
    for intent, phrases in PHRASES:
        for start, n in words.find(phrases):
            words.take(start, n)
            if chosen == "unknown":
                chosen = intent
    return chosen
