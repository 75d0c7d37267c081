-- Conservation: every line of every landed file is accepted, a duplicate or quarantined.
select
    source_file,
    lines_landed,
    lines_classified,
    accepted,
    duplicates,
    quarantined
from {{ ref('fct_landing_file_accounting') }}
where lines_landed <> accepted + duplicates + quarantined
   or lines_landed <> lines_classified
