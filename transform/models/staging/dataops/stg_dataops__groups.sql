select
    id as group_id,
    name as group_name,
    path as group_slug,
    full_path as group_path,
    parent_id,
    visibility,
    coalesce(share_with_group_lock, false) as share_with_group_lock,
    coalesce(archived, false) as archived,
    created_at,
    web_url
from {{ dataops_source('groups') }} as groups
