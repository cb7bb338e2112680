select
    id as pipeline_id,
    project_id,
    iid as pipeline_iid,
    ref,
    sha,
    status,
    source,
    source = 'parent_pipeline' as is_child_pipeline,
    created_at,
    updated_at,
    started_at,
    finished_at,
    cast(duration as {{ type_double() }}) as duration_seconds,
    cast(queued_duration as {{ type_double() }}) as queued_seconds,
    {{ nested(raw_column('user'), 'id', 'bigint') }} as user_id,
    {{ nested(raw_column('user'), 'username') }} as username,
    web_url
from {{ dataops_source('pipelines') }} as pipelines
