-- GitLab's own answer to "who has access to this project, at what level, until when"
-- (GET /projects/:id/members/all), one row per (project, user). No rows when the stream has
-- not been landed; effective_access then computes the answer from the member lists.
{% if dataops_table_exists('project_members_all') %}
select
    project_id,
    id as user_id,
    username,
    name as user_name,
    state as user_state,
    access_level,
    expires_at,
    membership_state
from {{ dataops_source('project_members_all') }} as members
{% else %}
select
    cast(null as {{ dbt.type_bigint() }}) as project_id,
    cast(null as {{ dbt.type_bigint() }}) as user_id,
    cast(null as {{ dbt.type_string() }}) as username,
    cast(null as {{ dbt.type_string() }}) as user_name,
    cast(null as {{ dbt.type_string() }}) as user_state,
    cast(null as {{ dbt.type_bigint() }}) as access_level,
    cast(null as date) as expires_at,
    cast(null as {{ dbt.type_string() }}) as membership_state
where 1 = 0
{% endif %}
