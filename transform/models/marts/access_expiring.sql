-- Access that ends within var('expiring_within_days') days of as_of (or has ended and is still
-- listed), one row per (user, project): when, and what the user keeps afterwards through routes
-- that outlast it (level_after_expiry; 0 = no access left).
with expiring as (
    select *
    from {{ ref('effective_access') }}
    where expires_at is not null
        and expires_at <= cast({{ dbt.dateadd('day', var('expiring_within_days'), as_of()) }} as date)
),

lasting as (
    select expiring.project_id, expiring.user_id, max(routes.access_level) as access_level
    from expiring
    inner join {{ ref('int_project_access_routes') }} as routes
        on routes.project_id = expiring.project_id
        and routes.user_id = expiring.user_id
        and (routes.expires_at is null or routes.expires_at > expiring.expires_at)
    group by expiring.project_id, expiring.user_id
)

select
    expiring.project_id,
    expiring.project_path,
    expiring.user_id,
    expiring.username,
    expiring.access_level,
    expiring.access_role,
    expiring.source,
    expiring.source_group_path,
    expiring.expires_at,
    {{ dbt.datediff(as_of(), 'expiring.expires_at', 'day') }} as days_left,
    coalesce(lasting.access_level, 0) as level_after_expiry
from expiring
left join lasting on lasting.project_id = expiring.project_id and lasting.user_id = expiring.user_id
