select
    id as namespace_id,
    name as namespace_name,
    path as namespace_slug,
    full_path as namespace_path,
    kind as namespace_kind,
    parent_id,
    web_url
from {{ dataops_source('namespaces') }} as namespaces
