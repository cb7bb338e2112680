-- One row per project in scope: where it lives, who may see it, whether it is alive, what it
-- stores, how its CI fares and who owns it.
with projects as (
    select * from {{ ref('stg_dataops__projects') }}
),

pipelines as (
    select * from {{ ref('int_pipelines') }}
    where not is_child_pipeline
),

last_pipeline as (
    select project_id, pipeline_id, status, created_at
    from (
        select
            pipelines.*,
            row_number() over (partition by project_id order by created_at desc, pipeline_id desc) as pick
        from pipelines
    ) as ranked
    where pick = 1
),

recent as (
    select
        project_id,
        count(*) as pipelines_30d,
        sum(case when status in ('success', 'failed', 'canceled') then 1 else 0 end) as finished_pipelines_30d,
        sum(case when status = 'failed' then 1 else 0 end) as failed_pipelines_30d
    from pipelines
    where created_at >= {{ dbt.dateadd('day', -30, as_of()) }}
    group by project_id
),

owners as (
    select
        project_id,
        count(*) as owner_count,
        {{ dbt.listagg('username', "', '", "order by username") }} as owners
    from {{ ref('owners_by_project') }}
    group by project_id
),

activity as (
    select
        projects.project_id,
        {{ dbt.datediff('projects.last_activity_at', as_of(), 'day') }} as days_since_activity,
        case
            when projects.last_activity_at is null then 'no_activity'
            when projects.last_activity_at >= {{ dbt.dateadd('day', -90, as_of()) }} then 'active'
            when projects.last_activity_at >= {{ dbt.dateadd('day', -180, as_of()) }} then 'stale_90d'
            when projects.last_activity_at >= {{ dbt.dateadd('day', -365, as_of()) }} then 'stale_180d'
            else 'stale_365d'
        end as staleness_bucket
    from projects
)

select
    projects.project_id,
    projects.project_name,
    projects.project_path,
    projects.namespace_id,
    projects.namespace_path,
    projects.namespace_kind,
    {{ dbt.split_part('projects.namespace_path', "'/'", 1) }} as top_level_namespace,
    projects.visibility,
    projects.archived,
    projects.created_at,
    projects.last_activity_at,
    activity.days_since_activity,
    activity.staleness_bucket,
    projects.has_statistics,
    projects.storage_size_bytes,
    projects.repository_size_bytes,
    projects.job_artifacts_size_bytes,
    coalesce(projects.jobs_enabled, false) and coalesce(projects.builds_access_level, 'enabled') <> 'disabled'
        as ci_enabled,
    last_pipeline.pipeline_id as last_pipeline_id,
    last_pipeline.status as last_pipeline_status,
    last_pipeline.created_at as last_pipeline_at,
    coalesce(recent.pipelines_30d, 0) as pipelines_30d,
    coalesce(recent.failed_pipelines_30d, 0) as failed_pipelines_30d,
    {{ rate('recent.failed_pipelines_30d', 'recent.finished_pipelines_30d') }} as failure_rate_30d,
    coalesce(owners.owner_count, 0) as owner_count,
    owners.owners,
    projects.web_url
from projects
inner join activity on activity.project_id = projects.project_id
left join last_pipeline on last_pipeline.project_id = projects.project_id
left join recent on recent.project_id = projects.project_id
left join owners on owners.project_id = projects.project_id
