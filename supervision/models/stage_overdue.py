"""STAGE_OVERDUE: a stage of a case is past its time limit (时限, clause 5.5.7): a prompt to its assignee."""

from supervision.models.base import in_scope_household, sql_rule

#: The stages past their due date today in China, one row per case (its earliest overdue stage).
OVERDUE_SQL = f"""
    SELECT DISTINCT ON (cf.household_no) cf.household_no, s.code AS stage, s.state, s.opened_on, s.due_on,
           s.time_limit_days, u.username AS assignee, u.name AS assignee_name,
           ((now() AT TIME ZONE 'Asia/Shanghai')::date - s.due_on) AS days_overdue
    FROM case_stage s JOIN case_file cf ON cf.id = s.case_id
    LEFT JOIN app_user u ON u.id = s.assignee_user_id
    WHERE cf.project_id = :p AND {in_scope_household('cf.household_no')} AND cf.state = 'active' AND s.state IN ('open', 'submitted', 'returned')
      AND s.due_on < (now() AT TIME ZONE 'Asia/Shanghai')::date
    ORDER BY cf.household_no, s.position"""

EVIDENCE_SQL = """jsonb_build_object('household_no', o.household_no, 'stage', o.stage, 'state', o.state,
                                     'opened_on', o.opened_on, 'due_on', o.due_on,
                                     'time_limit_days', o.time_limit_days, 'days_overdue', o.days_overdue,
                                     'assignee', o.assignee)"""

MODEL = sql_rule(
    "STAGE_OVERDUE", dimension="time", subject_type="household", severity="prompt", title_zh="环节超期",
    sql=f"""
    SELECT o.household_no AS subject_key,
           format('户 %s 的环节 %s 已超过时限 %s 天（应于 %s 前完成，承办人 %s）', o.household_no, o.stage,
                  o.days_overdue, o.due_on, COALESCE(o.assignee, '未分派')) AS message,
           {EVIDENCE_SQL} AS evidence
    FROM ({OVERDUE_SQL}) o""")
