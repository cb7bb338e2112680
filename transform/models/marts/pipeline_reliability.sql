-- Per project, ref and UTC week (Monday): how many pipelines ran, how many failed, and how long
-- the finished ones took. Top-level pipelines only (a child pipeline's outcome is its trigger
-- job's, inside its parent). failure_rate = failed / finished (success, failed, canceled).
with pipelines as (
    select
        int_pipelines.*,
        status in ('success', 'failed', 'canceled') as finished
    from {{ ref('int_pipelines') }} as int_pipelines
    where not is_child_pipeline
)

select
    project_id,
    max(project_path) as project_path,
    ref,
    {{ period_start('week', 'created_at') }} as week_start,
    count(*) as runs,
    sum(case when finished then 1 else 0 end) as finished_runs,
    sum(case when status = 'success' then 1 else 0 end) as succeeded_runs,
    sum(case when status = 'failed' then 1 else 0 end) as failed_runs,
    sum(case when status = 'canceled' then 1 else 0 end) as canceled_runs,
    {{ rate("sum(case when status = 'failed' then 1 else 0 end)", 'sum(case when finished then 1 else 0 end)') }}
        as failure_rate,
    {{ percentile('case when finished then duration_seconds end', 0.5) }} as p50_duration_seconds,
    {{ percentile('case when finished then duration_seconds end', 0.95) }} as p95_duration_seconds,
    sum(case when finished then duration_seconds end) as total_duration_seconds,
    {{ dbt.bool_or('project_is_live') }} as project_is_live
from pipelines
group by project_id, ref, {{ period_start('week', 'created_at') }}
