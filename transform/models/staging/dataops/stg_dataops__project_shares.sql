-- One row per (project, group it is shared with): projects.shared_with_groups unnested.
select
    projects.id as project_id,
    {{ nested(array_element('share'), 'group_id', 'bigint') }} as group_id,
    {{ nested(array_element('share'), 'group_full_path') }} as group_path,
    {{ nested(array_element('share'), 'group_access_level', 'bigint') }} as group_access_level,
    {{ nested(array_element('share'), 'expires_at', 'date') }} as expires_at
from {{ dataops_source('projects') }} as projects
{{ unnest_array('projects.shared_with_groups', 'share') }}
