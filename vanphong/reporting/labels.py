"""Names people read, in Vietnamese and English: the twelve metrics, document types, meeting
kinds, task states, units' kinds. One table each, shared by the command line, the exports and
the reporting page, so a figure is called the same everywhere."""

from __future__ import annotations

from typing import Literal

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")

#: The 12 metrics of CONTRACT.md §5.3: (Vietnamese, English).
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "documents_issued": ("Văn bản ban hành", "Documents issued"),
    "documents_appraised": ("Văn bản đã thẩm định", "Documents appraised"),
    "meetings_held": ("Hội nghị, cuộc họp phục vụ", "Meetings served"),
    "meeting_attendees": ("Lượt đại biểu dự họp", "Meeting attendees"),
    "receptions_held": ("Buổi tiếp dân", "Citizen receptions"),
    "citizens_received": ("Lượt công dân được tiếp", "Citizens received"),
    "petitions_received": ("Đơn thư tiếp nhận", "Petitions received"),
    "awards_granted": ("Khen thưởng đã trao", "Awards granted"),
    "awards_received": ("Khen thưởng được nhận", "Awards received"),
    "tasks_assigned": ("Nhiệm vụ được giao", "Tasks assigned"),
    "tasks_completed_on_time": ("Nhiệm vụ hoàn thành đúng hạn", "Tasks completed on time"),
    "tasks_completed_late": ("Nhiệm vụ hoàn thành trễ hạn", "Tasks completed late"),
}

#: Document types (DocumentIssued.avsc's DocType).
DOC_TYPES: dict[str, tuple[str, str]] = {
    "NGHI_QUYET": ("Nghị quyết", "Resolution"),
    "QUYET_DINH": ("Quyết định", "Decision"),
    "CHI_THI": ("Chỉ thị", "Directive"),
    "KET_LUAN": ("Kết luận", "Conclusion"),
    "QUY_CHE": ("Quy chế", "Working rules"),
    "QUY_DINH": ("Quy định", "Regulation"),
    "THONG_TRI": ("Thông tri", "Circular"),
    "HUONG_DAN": ("Hướng dẫn", "Guidance"),
    "THONG_BAO": ("Thông báo", "Notice"),
    "THONG_CAO": ("Thông cáo", "Communiqué"),
    "BAO_CAO": ("Báo cáo", "Report"),
    "KE_HOACH": ("Kế hoạch", "Plan"),
    "QUY_HOACH": ("Quy hoạch", "Master plan"),
    "CHUONG_TRINH": ("Chương trình", "Programme"),
    "DE_AN": ("Đề án", "Scheme"),
    "PHUONG_AN": ("Phương án", "Option paper"),
    "TO_TRINH": ("Tờ trình", "Submission"),
    "CONG_VAN": ("Công văn", "Official letter"),
    "BIEN_BAN": ("Biên bản", "Minutes"),
}

#: Meeting kinds (MeetingHeld.avsc's MeetingKind).
MEETING_KINDS: dict[str, tuple[str, str]] = {
    "DAI_HOI": ("Đại hội", "Congress"),
    "HOI_NGHI_BCH": ("Hội nghị Ban Chấp hành", "Executive Committee plenum"),
    "HOI_NGHI_BTV": ("Hội nghị Ban Thường vụ", "Standing Committee meeting"),
    "THUONG_TRUC": ("Họp Thường trực", "Standing Board meeting"),
    "GIAO_BAN": ("Giao ban", "Briefing"),
    "SO_KET": ("Sơ kết", "Interim review"),
    "TONG_KET": ("Tổng kết", "Annual review"),
    "QUAN_TRIET": ("Quán triệt", "Dissemination"),
    "LAM_VIEC": ("Làm việc", "Working session"),
    "CHO_Y_KIEN": ("Cho ý kiến", "Consultation"),
    "HOP_MAT": ("Họp mặt", "Commemoration"),
    "OTHER": ("Khác", "Other"),
}

#: The three task states the page charts.
TASK_STATES: dict[str, tuple[str, str]] = {
    "on_time": ("Hoàn thành đúng hạn", "Done on time"),
    "late": ("Hoàn thành trễ hạn", "Done late"),
    "overdue": ("Quá hạn chưa hoàn thành", "Overdue, not done"),
}

#: The two bases of CONTRACT.md §5.4, each explained in one line.
BASES: dict[str, tuple[str, str]] = {
    "attributed": (
        "mỗi hoạt động tính cho đơn vị mà đơn vị ghi nhận thuộc về (sau các lần sáp nhập) vào"
        " ngày diễn ra hoạt động.",
        "each activity counts for the unit its recording unit belonged to (after mergers) on"
        " the day it happened.",
    ),
    "consolidated": (
        "hoạt động của mọi đơn vị tiền thân được cộng vào đơn vị kế thừa cuối cùng hiện nay.",
        "the activity of every predecessor counts for today's surviving unit.",
    ),
}


def label(table: dict[str, tuple[str, str]], key: str, lang: Lang) -> str:
    """The name of ``key`` in ``lang``; an unknown code (a newer schema's) is shown as is."""
    names = table.get(key)
    if names is None:
        return key
    return names[0] if lang == "vi" else names[1]
