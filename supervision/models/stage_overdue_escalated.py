"""STAGE_OVERDUE_ESCALATED: a stage is past its time limit by more than a margin: an internal alarm to the
supervisors (clause 5.5.7); the margin is ``[rules.STAGE_OVERDUE_ESCALATED] margin_days`` (default 5)."""

from supervision.models.base import sql_rule
from supervision.models.stage_overdue import EVIDENCE_SQL, OVERDUE_SQL

MODEL = sql_rule(
    "STAGE_OVERDUE_ESCALATED", dimension="time", subject_type="household", severity="internal",
    title_zh="环节严重超期", thresholds={"margin_days": 5},
    sql=f"""
    SELECT o.household_no AS subject_key,
           format('户 %s 的环节 %s 超过时限 %s 天，已超出允许的 %s 天宽限（承办人 %s）', o.household_no, o.stage,
                  o.days_overdue, CAST(:margin_days AS int), COALESCE(o.assignee, '未分派')) AS message,
           {EVIDENCE_SQL} || jsonb_build_object('margin_days', CAST(:margin_days AS int)) AS evidence
    FROM ({OVERDUE_SQL}) o WHERE o.days_overdue > CAST(:margin_days AS int)""")
