{#
  Nested API objects, read the way each warehouse stores them: the bundled DuckDB loader lands
  STRUCTs, MeltanoLabs target-postgres jsonb, target-snowflake VARIANT. Models call these macros
  and never spell a dialect's path syntax themselves.

    {{ nested('namespace', 'full_path') }}               namespace.full_path as text
    {{ nested('runner', 'id', 'bigint') }}               a typed field
    {{ nested('downstream_pipeline', 'id', 'bigint') }}
    {{ nested('share', 'expires_at', 'date') }}          a field of an unnested array element

  type: string (default), bigint, float, boolean, date, timestamp (timestamps come back as UTC
  without a time zone, like every staged timestamp).
#}
{% macro nested(column, field, type='string') %}
  {{- return(adapter.dispatch('nested', 'dataops_inventory')(column, field, type)) -}}
{% endmacro %}

{% macro default__nested(column, field, type) %}
  {#- Postgres jsonb: ->> gives the field as text, then cast. -#}
  {%- set text = "(" ~ column ~ " ->> '" ~ field ~ "')" -%}
  {{- dataops_cast(text, type) -}}
{% endmacro %}

{% macro duckdb__nested(column, field, type) %}
  {#- struct_extract, not column.field: a dotted name could also mean table.column. -#}
  {%- set value = "struct_extract(" ~ column ~ ", '" ~ field ~ "')" -%}
  {{- dataops_cast(value, type) -}}
{% endmacro %}

{% macro snowflake__nested(column, field, type) %}
  {%- set value = column ~ ':"' ~ field ~ '"' -%}
  {%- if type == 'timestamp' -%}
    {{- to_utc("to_timestamp_tz(" ~ value ~ "::string)") -}}
  {%- else -%}
    {{- dataops_cast(value, type) -}}
  {%- endif -%}
{% endmacro %}

{#- A cast to one of nested()'s type names; a timestamp (with its offset) becomes UTC wall time. -#}
{% macro dataops_cast(expression, type) %}
  {%- if type == 'string' -%}
    cast({{ expression }} as {{ dbt.type_string() }})
  {%- elif type == 'bigint' -%}
    cast({{ expression }} as {{ dbt.type_bigint() }})
  {%- elif type == 'float' -%}
    cast({{ expression }} as {{ type_double() }})
  {%- elif type == 'boolean' -%}
    cast({{ expression }} as {{ dbt.type_boolean() }})
  {%- elif type == 'date' -%}
    cast({{ expression }} as date)
  {%- elif type == 'timestamp' -%}
    {{ to_utc(expression) }}
  {%- else -%}
    {{ exceptions.raise_compiler_error("nested(): unknown type " ~ type) }}
  {%- endif -%}
{% endmacro %}

{#
  The elements of an array of objects (projects.shared_with_groups, groups.shared_with_groups), one
  row each, as a join clause after the FROM item that holds the column:

    from {{ ref('...') }} as projects
    {{ unnest_array('projects.shared_with_groups', 'share') }}
    ... {{ nested(array_element('share'), 'group_id', 'bigint') }}

  A NULL column gives no rows.
#}
{% macro unnest_array(column, alias) %}
  {{- return(adapter.dispatch('unnest_array', 'dataops_inventory')(column, alias)) -}}
{% endmacro %}

{% macro default__unnest_array(column, alias) %}
{#- MeltanoLabs target-postgres lands an array of objects as jsonb[]. -#}
cross join lateral unnest({{ column }}) as {{ alias }}_elements({{ alias }})
{% endmacro %}

{% macro duckdb__unnest_array(column, alias) %}
cross join unnest({{ column }}) as {{ alias }}_elements({{ alias }})
{% endmacro %}

{% macro snowflake__unnest_array(column, alias) %}
, lateral flatten(input => {{ column }}) as {{ alias }}_elements
{% endmacro %}

{% macro array_element(alias) %}
  {{- return(adapter.dispatch('array_element', 'dataops_inventory')(alias)) -}}
{% endmacro %}

{% macro default__array_element(alias) %}{{ alias }}{% endmacro %}

{% macro snowflake__array_element(alias) %}{{ alias }}_elements.value{% endmacro %}
