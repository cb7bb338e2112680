-- Direct members, one row per (group_id, user).
select
    group_id,
    id as user_id,
    username,
    name as user_name,
    state as user_state,
    access_level,
    expires_at,
    created_at,
    membership_state
from {{ dataops_source('group_members') }} as members
