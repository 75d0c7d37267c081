{#- Money helpers for the billing models. Everything stays DECIMAL or integer: DuckDB turns a
    DECIMAL / DECIMAL division into DOUBLE, so no money expression here ever divides decimals. -#}

{#- An exact amount in minor units -> bigint, rounded ONCE, half up: half away from zero, so a
    credit (a negated amount) rounds like the debit it mirrors. Stripe rounds each invoice line
    to the currency's minor unit ("rounding occurs on the line item level", decimal amounts). -#}
{% macro round_half_up(expr) -%}
    cast(sign({{ expr }}) * floor(abs({{ expr }}) + 0.5) as bigint)
{%- endmacro %}

{#- Integer division (quotient rounded toward minus infinity for the non-negative operands used
    here), exact on every warehouse. -#}
{% macro int_div(a, b) -%}
    {{ return(adapter.dispatch('int_div', 'tollgate')(a, b)) }}
{%- endmacro %}
{% macro default__int_div(a, b) -%}
    (cast({{ a }} as hugeint) // cast({{ b }} as hugeint))
{%- endmacro %}
{% macro postgres__int_div(a, b) -%}
    div(cast({{ a }} as numeric), cast({{ b }} as numeric))
{%- endmacro %}

{#- round_half_up(numerator / denominator) exactly, for a DECIMAL(38, 12) numerator and a
    positive integer denominator. For n >= 0, n/d rounded half up is floor((2n + d) / 2d), and as
    d is an integer that equals floor((floor(2n) + d) / 2d): the division is between integers
    (hugeint / numeric), so nothing overflows below |n| = 5 x 10^25 and no fraction is lost.
    (Scaling n by 10^12 first overflowed DECIMAL(38) from n = 10^14, e.g. 10,000 seats x $100
    x the seconds of a month.) Used for prorations and percentages. -#}
{% macro ratio_round_half_up(numerator, denominator) -%}
    cast(sign({{ numerator }}) * {{ tollgate.int_div(
        'floor(2 * abs(' ~ numerator ~ ')) + ' ~ denominator,
        '2 * ' ~ denominator
    ) }} as bigint)
{%- endmacro %}

{#- Whole seconds from a to b (timestamps). -#}
{% macro seconds_between(a, b) -%}
    {{ return(adapter.dispatch('seconds_between', 'tollgate')(a, b)) }}
{%- endmacro %}
{% macro default__seconds_between(a, b) -%}
    date_diff('second', {{ a }}, {{ b }})
{%- endmacro %}
{% macro postgres__seconds_between(a, b) -%}
    cast(extract(epoch from ({{ b }} - {{ a }})) as bigint)
{%- endmacro %}

{#- Digits after the decimal point of a currency's major unit (Stripe's zero-decimal list, the
    three-decimal currencies, 2 otherwise). Amounts are always in minor units: this only says how
    to print them. -#}
{% macro currency_exponent(currency) -%}
    case
        when lower({{ currency }}) in (
            'bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd',
            'vuv', 'xaf', 'xof', 'xpf'
        ) then 0
        when lower({{ currency }}) in ('bhd', 'jod', 'kwd', 'omr', 'tnd') then 3
        else 2
    end
{%- endmacro %}
