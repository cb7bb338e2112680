-- Who owns what: one row per (project, user with Owner access, level 50), from effective_access.
select
    access.project_id,
    access.project_path,
    access.user_id,
    access.username,
    access.user_name,
    access.source,
    access.source_group_path,
    access.expires_at
from {{ ref('effective_access') }} as access
where access.access_level = 50
