-- Projects that left the scope (deleted, transferred out, access lost); their pipelines and jobs
-- stay as history. No rows when the stream has not been landed.
{% if dataops_table_exists('removed_projects') %}
select
    id as project_id,
    removed_at
from {{ dataops_source('removed_projects') }} as removed_projects
{% else %}
select
    cast(null as {{ dbt.type_bigint() }}) as project_id,
    cast(null as {{ dbt.type_timestamp() }}) as removed_at
where 1 = 0
{% endif %}
