-- Where CI time goes: job minutes per project, runner, user and UTC month (of the job's start,
-- else its creation). runner_id is NULL for jobs no runner picked up; user_id for jobs without a user.
with jobs as (
    select
        jobs.*,
        {{ period_start('month', 'coalesce(jobs.started_at, jobs.created_at)') }} as month_start
    from {{ ref('stg_dataops__jobs') }} as jobs
)

select
    jobs.project_id,
    max(projects.project_path) as project_path,
    jobs.runner_id,
    max(jobs.runner_description) as runner_description,
    max(jobs.runner_type) as runner_type,
    jobs.user_id,
    max(jobs.username) as username,
    jobs.month_start,
    count(*) as jobs,
    sum(case when jobs.status = 'failed' then 1 else 0 end) as failed_jobs,
    coalesce(sum(jobs.duration_seconds), 0) / 60.0 as job_minutes,
    coalesce(sum(case when jobs.status = 'failed' then jobs.duration_seconds end), 0) / 60.0 as failed_job_minutes,
    coalesce(sum(jobs.queued_seconds), 0) / 60.0 as queued_minutes,
    {{ dbt.bool_or('projects.project_id is not null') }} as project_is_live
from jobs
left join {{ ref('stg_dataops__projects') }} as projects on projects.project_id = jobs.project_id
group by jobs.project_id, jobs.runner_id, jobs.user_id, jobs.month_start
