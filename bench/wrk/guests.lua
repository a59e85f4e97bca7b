-- guests.lua: what the scenario scripts share to build guest ids (loaded with `dofile`).
--
-- Guest ids must match ^guest_[0-9A-HJKMNP-TV-Z]{26}$ (a ULID in Crockford base32, first
-- character 0-7); the scripts build them from numbers with `crockford`.
local CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

-- n (0 <= n < 32^width) in `width` Crockford base32 digits.
function crockford(n, width)
  local digits = {}
  for i = width, 1, -1 do
    local d = n % 32
    digits[i] = CROCKFORD:sub(d + 1, d + 1)
    n = (n - d) / 32
  end
  return table.concat(digits)
end
