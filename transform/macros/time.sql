{#
  Time, the same on every warehouse: staging turns every timestamp into UTC without a time zone
  (dataops_source() converts the loader's time-zone-aware columns, nested() the nested ones), so
  weeks and months start at UTC midnight whatever the session's time zone, and marts compare like
  with like. The loaders differ: the bundled DuckDB loader lands TIMESTAMPTZ, MeltanoLabs
  target-postgres lands UTC in `timestamp without time zone`.
#}

{#- A time-zone-aware expression (timestamptz, or ISO text with an offset) as UTC wall time. -#}
{% macro to_utc(expression) %}
  {{- return(adapter.dispatch('to_utc', 'dataops_inventory')(expression)) -}}
{% endmacro %}

{% macro default__to_utc(expression) %}
  (cast({{ expression }} as timestamptz) at time zone 'UTC')
{%- endmacro %}

{% macro duckdb__to_utc(expression) %}
  timezone('UTC', cast({{ expression }} as timestamptz))
{%- endmacro %}

{% macro snowflake__to_utc(expression) %}
  cast(convert_timezone('UTC', cast({{ expression }} as timestamp_tz)) as timestamp_ntz)
{%- endmacro %}

{#- Whether a column type (as the adapter reports it) is a timestamp with a time zone (not a
    STRUCT or array that holds one). -#}
{% macro has_time_zone(data_type) %}
  {%- set t = data_type | lower | trim -%}
  {{ return(t == 'timestamp with time zone' or t.startswith('timestamptz') or t.startswith('timestamp_tz')
            or t.startswith('timestamp_ltz')) }}
{% endmacro %}

{#- "Now" for staleness and windows: var('as_of') when set (unit tests pin it), else the warehouse's clock. -#}
{% macro as_of() %}
  {%- if var('as_of', '') -%}
    cast('{{ var("as_of") }}' as {{ dbt.type_timestamp() }})
  {%- else -%}
    {{ to_utc(dbt.current_timestamp()) }}
  {%- endif -%}
{% endmacro %}

{#- The first day of the UTC week (Monday) or month of a UTC timestamp, as a date. -#}
{% macro period_start(period, expression) %}
  cast({{ dbt.date_trunc(period, expression) }} as date)
{%- endmacro %}
