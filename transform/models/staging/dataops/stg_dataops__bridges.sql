-- Trigger jobs and the pipeline each started. No rows when the stream is not selected.
{% if dataops_table_exists('bridges') %}
select
    id as bridge_id,
    project_id,
    pipeline_id,
    name as bridge_name,
    stage,
    status,
    created_at,
    {{ nested('downstream_pipeline', 'id', 'bigint') }} as downstream_pipeline_id,
    {{ nested('downstream_pipeline', 'project_id', 'bigint') }} as downstream_project_id,
    {{ nested('downstream_pipeline', 'status') }} as downstream_status
from {{ dataops_source('bridges') }} as bridges
{% else %}
select
    cast(null as {{ dbt.type_bigint() }}) as bridge_id,
    cast(null as {{ dbt.type_bigint() }}) as project_id,
    cast(null as {{ dbt.type_bigint() }}) as pipeline_id,
    cast(null as {{ dbt.type_string() }}) as bridge_name,
    cast(null as {{ dbt.type_string() }}) as stage,
    cast(null as {{ dbt.type_string() }}) as status,
    cast(null as {{ dbt.type_timestamp() }}) as created_at,
    cast(null as {{ dbt.type_bigint() }}) as downstream_pipeline_id,
    cast(null as {{ dbt.type_bigint() }}) as downstream_project_id,
    cast(null as {{ dbt.type_string() }}) as downstream_status
where 1 = 0
{% endif %}
