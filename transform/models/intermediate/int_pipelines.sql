-- Pipelines with what they hang off: the trigger job that started a child pipeline (from
-- bridges, when selected) and whether their project is still in scope. Pipelines of projects
-- that left the scope stay, as history: project_is_live says which.
with triggers as (
    select
        downstream_pipeline_id, pipeline_id, bridge_id,
        row_number() over (partition by downstream_pipeline_id order by bridge_id desc) as pick
    from {{ ref('stg_dataops__bridges') }}
    where downstream_pipeline_id is not null
)

select
    pipelines.*,
    triggers.pipeline_id as parent_pipeline_id,
    triggers.bridge_id as trigger_bridge_id,
    projects.project_id is not null as project_is_live,
    projects.project_path,
    removed.removed_at as project_removed_at
from {{ ref('stg_dataops__pipelines') }} as pipelines
left join triggers on triggers.downstream_pipeline_id = pipelines.pipeline_id and triggers.pick = 1
left join {{ ref('stg_dataops__projects') }} as projects on projects.project_id = pipelines.project_id
left join {{ ref('stg_dataops__removed_projects') }} as removed on removed.project_id = pipelines.project_id
