-- Direct members, one row per (project_id, user).
select
    project_id,
    id as user_id,
    username,
    name as user_name,
    state as user_state,
    access_level,
    expires_at,
    created_at,
    membership_state
from {{ dataops_source('project_members') }} as members
