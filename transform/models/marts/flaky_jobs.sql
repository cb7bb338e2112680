-- Jobs that failed, then passed on a retry in the same pipeline: one row per (pipeline, job
-- name) where an attempt ended 'failed' and a later attempt (by creation, then id) 'success'.
with attempts as (
    select
        jobs.*,
        row_number() over (partition by pipeline_id, job_name order by created_at, job_id) as attempt
    from {{ ref('stg_dataops__jobs') }} as jobs
),

per_job as (
    select
        pipeline_id,
        job_name,
        max(project_id) as project_id,
        max(stage) as stage,
        max(ref) as ref,
        count(*) as attempts,
        sum(case when status = 'failed' then 1 else 0 end) as failed_attempts,
        min(case when status = 'failed' then attempt end) as first_failed_attempt,
        max(case when status = 'success' then attempt end) as last_passed_attempt
    from attempts
    group by pipeline_id, job_name
),

flaky as (
    select * from per_job
    where first_failed_attempt < last_passed_attempt
)

select
    flaky.project_id,
    projects.project_path,
    flaky.pipeline_id,
    flaky.ref,
    flaky.stage,
    flaky.job_name,
    flaky.attempts,
    flaky.failed_attempts,
    failed.job_id as failed_job_id,
    failed.failure_reason,
    failed.created_at as failed_at,
    passed.job_id as passed_job_id,
    passed.finished_at as passed_at,
    failed.runner_id as failed_runner_id,
    passed.runner_id as passed_runner_id,
    projects.project_id is not null as project_is_live
from flaky
inner join attempts as failed
    on failed.pipeline_id = flaky.pipeline_id and failed.job_name = flaky.job_name
    and failed.attempt = flaky.first_failed_attempt
inner join attempts as passed
    on passed.pipeline_id = flaky.pipeline_id and passed.job_name = flaky.job_name
    and passed.attempt = flaky.last_passed_attempt
left join {{ ref('stg_dataops__projects') }} as projects on projects.project_id = flaky.project_id
