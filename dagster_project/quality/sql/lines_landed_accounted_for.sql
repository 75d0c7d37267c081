-- Conservation: per landed file, lines landed (manifest) = rows in raw = accepted + duplicates
-- + quarantined. One row per file that breaks it.
select
    source_file,
    landed_date,
    lines_landed,
    lines_classified,
    accepted,
    duplicates,
    quarantined,
    lines_landed - (accepted + duplicates + quarantined) as lines_unaccounted
from marts.fct_landing_file_accounting
where lines_landed <> accepted + duplicates + quarantined
   or lines_landed <> lines_classified
