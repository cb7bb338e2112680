{#- GitLab's access levels by name (doc/api/members.md): 0 none, 5 minimal, 10 guest, 15 planner,
    20 reporter, 30 developer, 40 maintainer, 50 owner. -#}
{% macro access_role(level) %}
  case {{ level }}
    when 50 then 'owner'
    when 40 then 'maintainer'
    when 30 then 'developer'
    when 20 then 'reporter'
    when 15 then 'planner'
    when 10 then 'guest'
    when 5 then 'minimal_access'
    when 0 then 'no_access'
  end
{%- endmacro %}
