-- One row per (group, group invited into it): groups.shared_with_groups unnested. GitLab shows
-- these only on GET /groups/:id, so a listing-only sync leaves this empty.
select
    groups.id as group_id,
    {{ nested(array_element('share'), 'group_id', 'bigint') }} as invited_group_id,
    {{ nested(array_element('share'), 'group_full_path') }} as invited_group_path,
    {{ nested(array_element('share'), 'group_access_level', 'bigint') }} as group_access_level,
    {{ nested(array_element('share'), 'expires_at', 'date') }} as expires_at
from {{ dataops_source('groups') }} as groups
{{ unnest_array('groups.shared_with_groups', 'share') }}
