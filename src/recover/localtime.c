/* Local time from built-in tables: the zone database on the machine and the
 * TZ variable are process-global and change under a running daemon, while a
 * retry plan must be the same on every node. The tables hold the zones'
 * current rules only (standard offset and daylight-saving transitions);
 * plans look days ahead, never decades back. */
#include "recover/localtime.h"

#include <string.h>

#include "core/timefmt.h"

#define MIN_MS 60000LL
#define DAY_MIN 1440LL

/* A transition day: the nth given weekday of a month (week 5: the last),
 * moved by shift days (Israel starts on the Friday before a Sunday). */
struct tr_day {
    int month;
    int week;
    int wday;
    int shift;
};

enum basis { WALL, UTC_TIME };

struct dst_rule {
    struct tr_day start, end;
    int start_min, end_min; /* minutes after midnight of that day */
    enum basis basis;       /* WALL: the clock on the wall just before the change */
    int save_min;
};

enum rule_id { R_NONE, R_US, R_EU, R_AU, R_NZ, R_CL, R_IL, R_EG, R_LB, R_CU, R_COUNT };

static const struct dst_rule rules[R_COUNT] = {
    [R_NONE] = {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, WALL, 0},
    /* Second Sunday of March 02:00 to first Sunday of November 02:00. */
    [R_US] = {{3, 2, 0, 0}, {11, 1, 0, 0}, 120, 120, WALL, 60},
    /* Last Sunday of March to last Sunday of October, 01:00 UTC. */
    [R_EU] = {{3, 5, 0, 0}, {10, 5, 0, 0}, 60, 60, UTC_TIME, 60},
    /* First Sunday of October 02:00 to first Sunday of April 03:00. */
    [R_AU] = {{10, 1, 0, 0}, {4, 1, 0, 0}, 120, 180, WALL, 60},
    /* Last Sunday of September 02:00 to first Sunday of April 03:00. */
    [R_NZ] = {{9, 5, 0, 0}, {4, 1, 0, 0}, 120, 180, WALL, 60},
    /* First Sunday of September 04:00 UTC to first Sunday of April 03:00 UTC. */
    [R_CL] = {{9, 1, 0, 0}, {4, 1, 0, 0}, 240, 180, UTC_TIME, 60},
    /* Friday before the last Sunday of March 02:00 to last Sunday of October 02:00. */
    [R_IL] = {{3, 5, 0, -2}, {10, 5, 0, 0}, 120, 120, WALL, 60},
    /* Last Friday of April 00:00 to the end of the last Thursday of October. */
    [R_EG] = {{4, 5, 5, 0}, {10, 5, 4, 0}, 0, 1440, WALL, 60},
    [R_LB] = {{3, 5, 0, 0}, {10, 5, 0, 0}, 0, 0, WALL, 60},
    [R_CU] = {{3, 2, 0, 0}, {11, 1, 0, 0}, 0, 60, WALL, 60},
};

struct zone {
    const char *name;
    int std_min; /* standard offset from UTC in minutes */
    enum rule_id rule;
};

static const struct zone zones[] = {
    {"UTC", 0, R_NONE},
    /* Europe */
    {"Europe/London", 0, R_EU}, {"Europe/Dublin", 0, R_EU}, {"Europe/Lisbon", 0, R_EU},
    {"Atlantic/Canary", 0, R_EU}, {"Atlantic/Reykjavik", 0, R_NONE}, {"Atlantic/Faroe", 0, R_EU},
    {"Atlantic/Azores", -60, R_EU},
    {"Europe/Paris", 60, R_EU}, {"Europe/Berlin", 60, R_EU}, {"Europe/Madrid", 60, R_EU},
    {"Europe/Rome", 60, R_EU}, {"Europe/Amsterdam", 60, R_EU}, {"Europe/Brussels", 60, R_EU},
    {"Europe/Luxembourg", 60, R_EU}, {"Europe/Zurich", 60, R_EU}, {"Europe/Vienna", 60, R_EU},
    {"Europe/Prague", 60, R_EU}, {"Europe/Bratislava", 60, R_EU}, {"Europe/Budapest", 60, R_EU},
    {"Europe/Warsaw", 60, R_EU}, {"Europe/Copenhagen", 60, R_EU}, {"Europe/Stockholm", 60, R_EU},
    {"Europe/Oslo", 60, R_EU}, {"Europe/Ljubljana", 60, R_EU}, {"Europe/Zagreb", 60, R_EU},
    {"Europe/Belgrade", 60, R_EU}, {"Europe/Sarajevo", 60, R_EU}, {"Europe/Podgorica", 60, R_EU},
    {"Europe/Skopje", 60, R_EU}, {"Europe/Tirane", 60, R_EU}, {"Europe/Malta", 60, R_EU},
    {"Europe/Monaco", 60, R_EU}, {"Europe/Andorra", 60, R_EU}, {"Europe/San_Marino", 60, R_EU},
    {"Europe/Vatican", 60, R_EU}, {"Europe/Vaduz", 60, R_EU}, {"Europe/Gibraltar", 60, R_EU},
    {"Arctic/Longyearbyen", 60, R_EU},
    {"Europe/Athens", 120, R_EU}, {"Europe/Helsinki", 120, R_EU}, {"Europe/Tallinn", 120, R_EU},
    {"Europe/Riga", 120, R_EU}, {"Europe/Vilnius", 120, R_EU}, {"Europe/Bucharest", 120, R_EU},
    {"Europe/Sofia", 120, R_EU}, {"Europe/Kyiv", 120, R_EU}, {"Europe/Chisinau", 120, R_EU},
    {"Asia/Nicosia", 120, R_EU}, {"Europe/Mariehamn", 120, R_EU},
    {"Europe/Istanbul", 180, R_NONE}, {"Europe/Minsk", 180, R_NONE},
    {"Europe/Kaliningrad", 120, R_NONE}, {"Europe/Moscow", 180, R_NONE}, {"Europe/Samara", 240, R_NONE},
    {"Asia/Yekaterinburg", 300, R_NONE}, {"Asia/Omsk", 360, R_NONE}, {"Asia/Novosibirsk", 420, R_NONE},
    {"Asia/Krasnoyarsk", 420, R_NONE}, {"Asia/Irkutsk", 480, R_NONE}, {"Asia/Yakutsk", 540, R_NONE},
    {"Asia/Vladivostok", 600, R_NONE}, {"Asia/Magadan", 660, R_NONE}, {"Asia/Kamchatka", 720, R_NONE},
    /* North America */
    {"America/New_York", -300, R_US}, {"America/Chicago", -360, R_US}, {"America/Denver", -420, R_US},
    {"America/Phoenix", -420, R_NONE}, {"America/Los_Angeles", -480, R_US}, {"America/Anchorage", -540, R_US},
    {"Pacific/Honolulu", -600, R_NONE}, {"America/Puerto_Rico", -240, R_NONE},
    {"America/St_Johns", -210, R_US}, {"America/Halifax", -240, R_US}, {"America/Toronto", -300, R_US},
    {"America/Winnipeg", -360, R_US}, {"America/Regina", -360, R_NONE}, {"America/Edmonton", -420, R_US},
    {"America/Vancouver", -480, R_US}, {"America/Whitehorse", -420, R_NONE},
    {"America/Mexico_City", -360, R_NONE}, {"America/Cancun", -300, R_NONE}, {"America/Mazatlan", -420, R_NONE},
    {"America/Hermosillo", -420, R_NONE}, {"America/Tijuana", -480, R_US}, {"America/Nuuk", -120, R_EU},
    /* Central America and the Caribbean */
    {"America/Guatemala", -360, R_NONE}, {"America/Belize", -360, R_NONE}, {"America/El_Salvador", -360, R_NONE},
    {"America/Tegucigalpa", -360, R_NONE}, {"America/Managua", -360, R_NONE}, {"America/Costa_Rica", -360, R_NONE},
    {"America/Panama", -300, R_NONE}, {"America/Jamaica", -300, R_NONE}, {"America/Havana", -300, R_CU},
    {"America/Port-au-Prince", -300, R_US}, {"America/Nassau", -300, R_US},
    {"America/Santo_Domingo", -240, R_NONE}, {"America/Barbados", -240, R_NONE},
    {"America/Port_of_Spain", -240, R_NONE}, {"America/Curacao", -240, R_NONE},
    {"America/Martinique", -240, R_NONE}, {"America/Guadeloupe", -240, R_NONE},
    {"Atlantic/Bermuda", -240, R_US}, {"America/Cayman", -300, R_NONE},
    /* South America */
    {"America/Sao_Paulo", -180, R_NONE}, {"America/Manaus", -240, R_NONE}, {"America/Cuiaba", -240, R_NONE},
    {"America/Campo_Grande", -240, R_NONE}, {"America/Porto_Velho", -240, R_NONE},
    {"America/Boa_Vista", -240, R_NONE}, {"America/Rio_Branco", -300, R_NONE},
    {"America/Noronha", -120, R_NONE}, {"America/Belem", -180, R_NONE}, {"America/Fortaleza", -180, R_NONE},
    {"America/Argentina/Buenos_Aires", -180, R_NONE}, {"America/Santiago", -240, R_CL},
    {"America/Montevideo", -180, R_NONE}, {"America/Asuncion", -180, R_NONE}, {"America/La_Paz", -240, R_NONE},
    {"America/Lima", -300, R_NONE}, {"America/Bogota", -300, R_NONE}, {"America/Guayaquil", -300, R_NONE},
    {"America/Caracas", -240, R_NONE}, {"America/Guyana", -240, R_NONE}, {"America/Paramaribo", -180, R_NONE},
    {"America/Cayenne", -180, R_NONE},
    /* Asia and the Pacific */
    {"Asia/Tokyo", 540, R_NONE}, {"Asia/Seoul", 540, R_NONE}, {"Asia/Shanghai", 480, R_NONE},
    {"Asia/Hong_Kong", 480, R_NONE}, {"Asia/Macau", 480, R_NONE}, {"Asia/Taipei", 480, R_NONE},
    {"Asia/Singapore", 480, R_NONE}, {"Asia/Kuala_Lumpur", 480, R_NONE}, {"Asia/Manila", 480, R_NONE},
    {"Asia/Jakarta", 420, R_NONE}, {"Asia/Makassar", 480, R_NONE}, {"Asia/Jayapura", 540, R_NONE},
    {"Asia/Bangkok", 420, R_NONE}, {"Asia/Ho_Chi_Minh", 420, R_NONE}, {"Asia/Phnom_Penh", 420, R_NONE},
    {"Asia/Vientiane", 420, R_NONE}, {"Asia/Yangon", 390, R_NONE}, {"Asia/Kolkata", 330, R_NONE},
    {"Asia/Kathmandu", 345, R_NONE}, {"Asia/Dhaka", 360, R_NONE}, {"Asia/Colombo", 330, R_NONE},
    {"Asia/Karachi", 300, R_NONE}, {"Asia/Kabul", 270, R_NONE}, {"Asia/Tashkent", 300, R_NONE},
    {"Asia/Almaty", 300, R_NONE}, {"Asia/Bishkek", 360, R_NONE}, {"Asia/Ulaanbaatar", 480, R_NONE},
    {"Asia/Brunei", 480, R_NONE}, {"Indian/Maldives", 300, R_NONE},
    {"Australia/Sydney", 600, R_AU}, {"Australia/Melbourne", 600, R_AU}, {"Australia/Hobart", 600, R_AU},
    {"Australia/Brisbane", 600, R_NONE}, {"Australia/Adelaide", 570, R_AU}, {"Australia/Darwin", 570, R_NONE},
    {"Australia/Perth", 480, R_NONE}, {"Pacific/Auckland", 720, R_NZ}, {"Pacific/Fiji", 720, R_NONE},
    {"Pacific/Port_Moresby", 600, R_NONE}, {"Pacific/Guam", 600, R_NONE}, {"Pacific/Tahiti", -600, R_NONE},
    {"Pacific/Noumea", 660, R_NONE},
    /* Middle East and the Caucasus */
    {"Asia/Dubai", 240, R_NONE}, {"Asia/Riyadh", 180, R_NONE}, {"Asia/Qatar", 180, R_NONE},
    {"Asia/Kuwait", 180, R_NONE}, {"Asia/Bahrain", 180, R_NONE}, {"Asia/Muscat", 240, R_NONE},
    {"Asia/Baghdad", 180, R_NONE}, {"Asia/Amman", 180, R_NONE}, {"Asia/Damascus", 180, R_NONE},
    {"Asia/Beirut", 120, R_LB}, {"Asia/Jerusalem", 120, R_IL}, {"Asia/Gaza", 120, R_LB},
    {"Asia/Tehran", 210, R_NONE}, {"Asia/Tbilisi", 240, R_NONE}, {"Asia/Yerevan", 240, R_NONE},
    {"Asia/Baku", 240, R_NONE},
    /* Africa */
    {"Africa/Cairo", 120, R_EG}, {"Africa/Johannesburg", 120, R_NONE}, {"Africa/Lagos", 60, R_NONE},
    {"Africa/Nairobi", 180, R_NONE}, {"Africa/Casablanca", 60, R_NONE}, {"Africa/Algiers", 60, R_NONE},
    {"Africa/Tunis", 60, R_NONE}, {"Africa/Tripoli", 120, R_NONE}, {"Africa/Accra", 0, R_NONE},
    {"Africa/Abidjan", 0, R_NONE}, {"Africa/Dakar", 0, R_NONE}, {"Africa/Addis_Ababa", 180, R_NONE},
    {"Africa/Kampala", 180, R_NONE}, {"Africa/Dar_es_Salaam", 180, R_NONE}, {"Africa/Kigali", 120, R_NONE},
    {"Africa/Lusaka", 120, R_NONE}, {"Africa/Harare", 120, R_NONE}, {"Africa/Maputo", 120, R_NONE},
    {"Africa/Windhoek", 120, R_NONE}, {"Africa/Gaborone", 120, R_NONE}, {"Africa/Luanda", 60, R_NONE},
    {"Africa/Kinshasa", 60, R_NONE}, {"Africa/Douala", 60, R_NONE}, {"Africa/Khartoum", 120, R_NONE},
    {"Indian/Mauritius", 240, R_NONE}, {"Indian/Reunion", 240, R_NONE}, {"Atlantic/Cape_Verde", -60, R_NONE},
    /* More of Asia, the Pacific and the Atlantic */
    {"Asia/Thimphu", 360, R_NONE}, {"Asia/Dili", 540, R_NONE}, {"Asia/Pyongyang", 540, R_NONE},
    {"Asia/Dushanbe", 300, R_NONE}, {"Asia/Ashgabat", 300, R_NONE}, {"Pacific/Apia", 780, R_NONE},
    {"Pacific/Tongatapu", 780, R_NONE}, {"Pacific/Efate", 660, R_NONE}, {"Pacific/Guadalcanal", 660, R_NONE},
    {"Pacific/Tarawa", 720, R_NONE}, {"Pacific/Palau", 540, R_NONE}, {"Pacific/Rarotonga", -600, R_NONE},
    {"Pacific/Niue", -660, R_NONE}, {"Pacific/Pago_Pago", -660, R_NONE}, {"Pacific/Norfolk", 660, R_AU},
    {"America/Grand_Turk", -300, R_US}, {"America/Miquelon", -180, R_US}, {"Atlantic/Stanley", -180, R_NONE},
};

#define NZONES (sizeof zones / sizeof zones[0])

/* Countries within one zone (or whose people mostly live in one). */
static const struct {
    char cc[3];
    const char *zone;
} country_zones[] = {
    {"GB", "Europe/London"}, {"IE", "Europe/Dublin"}, {"PT", "Europe/Lisbon"}, {"IS", "Atlantic/Reykjavik"},
    {"FO", "Atlantic/Faroe"}, {"GG", "Europe/London"}, {"JE", "Europe/London"}, {"IM", "Europe/London"},
    {"FR", "Europe/Paris"}, {"DE", "Europe/Berlin"}, {"ES", "Europe/Madrid"}, {"IT", "Europe/Rome"},
    {"NL", "Europe/Amsterdam"}, {"BE", "Europe/Brussels"}, {"LU", "Europe/Luxembourg"}, {"CH", "Europe/Zurich"},
    {"AT", "Europe/Vienna"}, {"CZ", "Europe/Prague"}, {"SK", "Europe/Bratislava"}, {"HU", "Europe/Budapest"},
    {"PL", "Europe/Warsaw"}, {"DK", "Europe/Copenhagen"}, {"SE", "Europe/Stockholm"}, {"NO", "Europe/Oslo"},
    {"SI", "Europe/Ljubljana"}, {"HR", "Europe/Zagreb"}, {"RS", "Europe/Belgrade"}, {"BA", "Europe/Sarajevo"},
    {"ME", "Europe/Podgorica"}, {"MK", "Europe/Skopje"}, {"AL", "Europe/Tirane"}, {"MT", "Europe/Malta"},
    {"MC", "Europe/Monaco"}, {"AD", "Europe/Andorra"}, {"SM", "Europe/San_Marino"}, {"VA", "Europe/Vatican"},
    {"LI", "Europe/Vaduz"}, {"GI", "Europe/Gibraltar"}, {"SJ", "Arctic/Longyearbyen"}, {"XK", "Europe/Belgrade"},
    {"GR", "Europe/Athens"}, {"FI", "Europe/Helsinki"}, {"EE", "Europe/Tallinn"}, {"LV", "Europe/Riga"},
    {"LT", "Europe/Vilnius"}, {"RO", "Europe/Bucharest"}, {"BG", "Europe/Sofia"}, {"UA", "Europe/Kyiv"},
    {"MD", "Europe/Chisinau"}, {"CY", "Asia/Nicosia"}, {"AX", "Europe/Mariehamn"}, {"TR", "Europe/Istanbul"},
    {"BY", "Europe/Minsk"}, {"RU", "Europe/Moscow"},
    {"US", "America/New_York"}, {"CA", "America/Toronto"}, {"MX", "America/Mexico_City"},
    {"PR", "America/Puerto_Rico"}, {"VI", "America/Puerto_Rico"}, {"GL", "America/Nuuk"},
    {"GT", "America/Guatemala"}, {"BZ", "America/Belize"}, {"SV", "America/El_Salvador"},
    {"HN", "America/Tegucigalpa"}, {"NI", "America/Managua"}, {"CR", "America/Costa_Rica"},
    {"PA", "America/Panama"}, {"JM", "America/Jamaica"}, {"CU", "America/Havana"}, {"HT", "America/Port-au-Prince"},
    {"BS", "America/Nassau"}, {"DO", "America/Santo_Domingo"}, {"BB", "America/Barbados"},
    {"TT", "America/Port_of_Spain"}, {"CW", "America/Curacao"}, {"AW", "America/Curacao"},
    {"MQ", "America/Martinique"}, {"GP", "America/Guadeloupe"}, {"BM", "Atlantic/Bermuda"},
    {"KY", "America/Cayman"}, {"AG", "America/Barbados"}, {"LC", "America/Barbados"}, {"DM", "America/Barbados"},
    {"GD", "America/Barbados"}, {"VC", "America/Barbados"}, {"KN", "America/Barbados"},
    {"BR", "America/Sao_Paulo"}, {"AR", "America/Argentina/Buenos_Aires"}, {"CL", "America/Santiago"},
    {"UY", "America/Montevideo"}, {"PY", "America/Asuncion"}, {"BO", "America/La_Paz"}, {"PE", "America/Lima"},
    {"CO", "America/Bogota"}, {"EC", "America/Guayaquil"}, {"VE", "America/Caracas"}, {"GY", "America/Guyana"},
    {"SR", "America/Paramaribo"}, {"GF", "America/Cayenne"},
    {"JP", "Asia/Tokyo"}, {"KR", "Asia/Seoul"}, {"CN", "Asia/Shanghai"}, {"HK", "Asia/Hong_Kong"},
    {"MO", "Asia/Macau"}, {"TW", "Asia/Taipei"}, {"SG", "Asia/Singapore"}, {"MY", "Asia/Kuala_Lumpur"},
    {"PH", "Asia/Manila"}, {"ID", "Asia/Jakarta"}, {"TH", "Asia/Bangkok"}, {"VN", "Asia/Ho_Chi_Minh"},
    {"KH", "Asia/Phnom_Penh"}, {"LA", "Asia/Vientiane"}, {"MM", "Asia/Yangon"}, {"IN", "Asia/Kolkata"},
    {"NP", "Asia/Kathmandu"}, {"BD", "Asia/Dhaka"}, {"LK", "Asia/Colombo"}, {"PK", "Asia/Karachi"},
    {"AF", "Asia/Kabul"}, {"UZ", "Asia/Tashkent"}, {"KZ", "Asia/Almaty"}, {"KG", "Asia/Bishkek"},
    {"MN", "Asia/Ulaanbaatar"}, {"BN", "Asia/Brunei"}, {"MV", "Indian/Maldives"},
    {"AU", "Australia/Sydney"}, {"NZ", "Pacific/Auckland"}, {"FJ", "Pacific/Fiji"},
    {"PG", "Pacific/Port_Moresby"}, {"GU", "Pacific/Guam"}, {"MP", "Pacific/Guam"}, {"PF", "Pacific/Tahiti"},
    {"NC", "Pacific/Noumea"},
    {"AE", "Asia/Dubai"}, {"SA", "Asia/Riyadh"}, {"QA", "Asia/Qatar"}, {"KW", "Asia/Kuwait"},
    {"BH", "Asia/Bahrain"}, {"OM", "Asia/Muscat"}, {"IQ", "Asia/Baghdad"}, {"JO", "Asia/Amman"},
    {"SY", "Asia/Damascus"}, {"LB", "Asia/Beirut"}, {"IL", "Asia/Jerusalem"}, {"PS", "Asia/Gaza"},
    {"IR", "Asia/Tehran"}, {"GE", "Asia/Tbilisi"}, {"AM", "Asia/Yerevan"}, {"AZ", "Asia/Baku"},
    {"EG", "Africa/Cairo"}, {"ZA", "Africa/Johannesburg"}, {"NG", "Africa/Lagos"}, {"KE", "Africa/Nairobi"},
    {"MA", "Africa/Casablanca"}, {"DZ", "Africa/Algiers"}, {"TN", "Africa/Tunis"}, {"LY", "Africa/Tripoli"},
    {"GH", "Africa/Accra"}, {"CI", "Africa/Abidjan"}, {"SN", "Africa/Dakar"}, {"ET", "Africa/Addis_Ababa"},
    {"UG", "Africa/Kampala"}, {"TZ", "Africa/Dar_es_Salaam"}, {"RW", "Africa/Kigali"}, {"ZM", "Africa/Lusaka"},
    {"ZW", "Africa/Harare"}, {"MZ", "Africa/Maputo"}, {"NA", "Africa/Windhoek"}, {"BW", "Africa/Gaborone"},
    {"AO", "Africa/Luanda"}, {"CD", "Africa/Kinshasa"}, {"CM", "Africa/Douala"}, {"SD", "Africa/Khartoum"},
    {"MU", "Indian/Mauritius"}, {"RE", "Indian/Reunion"}, {"CV", "Atlantic/Cape_Verde"},
    /* Countries on the same clock as a zone above (the IANA database links
     * most of them to it too). */
    {"ML", "Africa/Abidjan"}, {"BF", "Africa/Abidjan"}, {"GN", "Africa/Abidjan"}, {"SL", "Africa/Abidjan"},
    {"LR", "Africa/Abidjan"}, {"GM", "Africa/Abidjan"}, {"GW", "Africa/Abidjan"}, {"MR", "Africa/Abidjan"},
    {"TG", "Africa/Abidjan"}, {"ST", "Africa/Abidjan"}, {"SH", "Africa/Abidjan"}, {"BJ", "Africa/Lagos"},
    {"NE", "Africa/Lagos"}, {"TD", "Africa/Lagos"}, {"CF", "Africa/Lagos"}, {"CG", "Africa/Lagos"},
    {"GA", "Africa/Lagos"}, {"GQ", "Africa/Lagos"}, {"MW", "Africa/Maputo"}, {"LS", "Africa/Johannesburg"},
    {"SZ", "Africa/Johannesburg"}, {"BI", "Africa/Maputo"}, {"SS", "Africa/Maputo"}, {"ER", "Africa/Nairobi"},
    {"DJ", "Africa/Nairobi"}, {"SO", "Africa/Nairobi"}, {"MG", "Africa/Nairobi"}, {"KM", "Africa/Nairobi"},
    {"YT", "Africa/Nairobi"}, {"SC", "Indian/Mauritius"}, {"EH", "Africa/Casablanca"}, {"YE", "Asia/Riyadh"},
    {"BT", "Asia/Thimphu"}, {"TL", "Asia/Dili"}, {"KP", "Asia/Pyongyang"}, {"TJ", "Asia/Dushanbe"},
    {"TM", "Asia/Ashgabat"}, {"WS", "Pacific/Apia"}, {"TO", "Pacific/Tongatapu"}, {"VU", "Pacific/Efate"},
    {"SB", "Pacific/Guadalcanal"}, {"FM", "Pacific/Guadalcanal"}, {"KI", "Pacific/Tarawa"},
    {"MH", "Pacific/Tarawa"}, {"NR", "Pacific/Tarawa"}, {"TV", "Pacific/Tarawa"}, {"WF", "Pacific/Tarawa"},
    {"PW", "Pacific/Palau"}, {"CK", "Pacific/Rarotonga"}, {"NU", "Pacific/Niue"}, {"AS", "Pacific/Pago_Pago"},
    {"NF", "Pacific/Norfolk"}, {"CX", "Asia/Bangkok"}, {"CC", "Asia/Yangon"}, {"AI", "America/Puerto_Rico"},
    {"VG", "America/Puerto_Rico"}, {"MS", "America/Puerto_Rico"}, {"BQ", "America/Puerto_Rico"},
    {"SX", "America/Puerto_Rico"}, {"MF", "America/Puerto_Rico"}, {"BL", "America/Puerto_Rico"},
    {"TC", "America/Grand_Turk"}, {"PM", "America/Miquelon"}, {"FK", "Atlantic/Stanley"},
};

/* A range of leading postal-code digits (as a number of prefix_len digits). */
struct postal_range {
    int lo, hi;
    const char *zone;
};

/* United States: first three ZIP digits; the rest of the country is
 * Eastern (the table's default). State lines that split a prefix follow
 * the majority of its population. */
static const struct postal_range us_zip3[] = {
    {350, 352, "America/Chicago"}, {354, 369, "America/Chicago"}, {370, 372, "America/Chicago"},
    {380, 385, "America/Chicago"}, {386, 397, "America/Chicago"}, {463, 464, "America/Chicago"},
    {476, 477, "America/Chicago"},
    {500, 528, "America/Chicago"}, {530, 567, "America/Chicago"}, {570, 577, "America/Chicago"},
    {580, 588, "America/Chicago"}, {590, 599, "America/Denver"}, {600, 629, "America/Chicago"},
    {630, 658, "America/Chicago"}, {660, 679, "America/Chicago"}, {680, 693, "America/Chicago"},
    {700, 729, "America/Chicago"}, {730, 749, "America/Chicago"}, {750, 797, "America/Chicago"},
    {798, 799, "America/Denver"}, {800, 816, "America/Denver"}, {820, 831, "America/Denver"},
    {832, 838, "America/Denver"}, {840, 847, "America/Denver"}, {850, 865, "America/Phoenix"},
    {870, 884, "America/Denver"}, {889, 898, "America/Los_Angeles"}, {900, 966, "America/Los_Angeles"},
    {967, 968, "Pacific/Honolulu"}, {969, 969, "Pacific/Guam"}, {970, 994, "America/Los_Angeles"},
    {995, 999, "America/Anchorage"}, {6, 9, "America/Puerto_Rico"},
};

/* Russia: first three digits of the six-digit index. */
static const struct postal_range ru_idx3[] = {
    {236, 238, "Europe/Kaliningrad"}, {410, 413, "Europe/Samara"}, {414, 416, "Europe/Samara"},
    {426, 427, "Europe/Samara"}, {432, 433, "Europe/Samara"}, {443, 446, "Europe/Samara"},
    {450, 457, "Asia/Yekaterinburg"}, {460, 462, "Asia/Yekaterinburg"}, {614, 629, "Asia/Yekaterinburg"},
    {640, 641, "Asia/Yekaterinburg"}, {644, 646, "Asia/Omsk"}, {630, 636, "Asia/Novosibirsk"},
    {649, 659, "Asia/Novosibirsk"}, {660, 663, "Asia/Krasnoyarsk"}, {664, 671, "Asia/Irkutsk"},
    {672, 679, "Asia/Yakutsk"}, {680, 682, "Asia/Vladivostok"}, {690, 692, "Asia/Vladivostok"},
    {683, 684, "Asia/Kamchatka"}, {689, 689, "Asia/Kamchatka"}, {685, 686, "Asia/Magadan"},
    {693, 694, "Asia/Magadan"},
};

/* Brazil: first three digits of the CEP; the rest is Brasilia time. */
static const struct postal_range br_cep3[] = {
    {690, 692, "America/Manaus"}, {693, 693, "America/Boa_Vista"}, {694, 698, "America/Manaus"},
    {699, 699, "America/Rio_Branco"}, {768, 769, "America/Porto_Velho"}, {780, 788, "America/Cuiaba"},
    {790, 799, "America/Campo_Grande"},
};

/* Mexico: first two digits of the código postal; the rest is central time. */
static const struct postal_range mx_cp2[] = {
    {21, 22, "America/Tijuana"}, {23, 23, "America/Mazatlan"}, {63, 63, "America/Mazatlan"},
    {77, 77, "America/Cancun"}, {80, 82, "America/Mazatlan"}, {83, 85, "America/Hermosillo"},
};

/* Australia: first digit of the postcode (0: Northern Territory except the
 * 02xx ACT boxes). */
static const struct postal_range au_pc1[] = {
    {1, 2, "Australia/Sydney"}, {3, 3, "Australia/Melbourne"}, {4, 4, "Australia/Brisbane"},
    {5, 5, "Australia/Adelaide"}, {6, 6, "Australia/Perth"}, {7, 7, "Australia/Hobart"},
    {8, 8, "Australia/Melbourne"}, {9, 9, "Australia/Brisbane"},
};

static int leading_digits(const char *pc, int ndigits, int *out)
{
    int v = 0, k = 0;
    for (const char *p = pc; *p && k < ndigits; p++) {
        if (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p - '0');
            k++;
        } else if (*p != ' ' && *p != '-') {
            return -1;
        }
    }
    if (k < ndigits)
        return -1;
    *out = v;
    return 0;
}

static const char *range_zone(const struct postal_range *r, size_t n, const char *pc, int ndigits,
                              const char *fallback)
{
    int v;
    if (!pc || leading_digits(pc, ndigits, &v) != 0)
        return fallback;
    for (size_t i = 0; i < n; i++)
        if (v >= r[i].lo && v <= r[i].hi)
            return r[i].zone;
    return fallback;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *canada_zone(const char *pc)
{
    char c = pc ? pc[0] : '\0';
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    switch (c) {
    case 'A': return "America/St_Johns";
    case 'B': case 'C': case 'E': return "America/Halifax";
    case 'R': return "America/Winnipeg";
    case 'S': return "America/Regina";
    case 'T': case 'X': return "America/Edmonton";
    case 'V': return "America/Vancouver";
    case 'Y': return "America/Whitehorse";
    default: return "America/Toronto";
    }
}

static const char *australia_zone(const char *pc)
{
    int v;
    if (pc && leading_digits(pc, 2, &v) == 0 && v == 2)
        return "Australia/Sydney"; /* 02xx: Canberra */
    if (pc && leading_digits(pc, 1, &v) == 0 && v == 0)
        return "Australia/Darwin";
    return range_zone(au_pc1, N_OF(au_pc1), pc, 1, "Australia/Sydney");
}

static int upper_eq2(const char *a, const char *cc)
{
    if (!a || !a[0] || !a[1] || a[2])
        return 0;
    for (int i = 0; i < 2; i++) {
        char c = a[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != cc[i])
            return 0;
    }
    return 1;
}

const char *rc_zone_for(const char *country, const char *postal_code)
{
    if (!country)
        return NULL;
    const char *pc = postal_code && *postal_code ? postal_code : NULL;
    if (upper_eq2(country, "US"))
        return range_zone(us_zip3, N_OF(us_zip3), pc, 3, "America/New_York");
    if (upper_eq2(country, "CA"))
        return canada_zone(pc);
    if (upper_eq2(country, "AU"))
        return australia_zone(pc);
    if (upper_eq2(country, "BR"))
        return range_zone(br_cep3, N_OF(br_cep3), pc, 3, "America/Sao_Paulo");
    if (upper_eq2(country, "MX"))
        return range_zone(mx_cp2, N_OF(mx_cp2), pc, 2, "America/Mexico_City");
    if (upper_eq2(country, "RU"))
        return range_zone(ru_idx3, N_OF(ru_idx3), pc, 3, "Europe/Moscow");
    for (size_t i = 0; i < N_OF(country_zones); i++)
        if (upper_eq2(country, country_zones[i].cc))
            return country_zones[i].zone;
    return NULL;
}

int rc_zone_index(const char *zone)
{
    if (!zone || !*zone)
        return -1;
    for (size_t i = 0; i < NZONES; i++)
        if (strcmp(zones[i].name, zone) == 0)
            return (int)i;
    /* Names the IANA database keeps as links to the ones above. */
    static const struct {
        const char *alias, *target;
    } links[] = {{"Etc/UTC", "UTC"}, {"GMT", "UTC"}, {"Etc/GMT", "UTC"}, {"Europe/Kiev", "Europe/Kyiv"},
                 {"America/Godthab", "America/Nuuk"}, {"Asia/Calcutta", "Asia/Kolkata"},
                 {"Asia/Saigon", "Asia/Ho_Chi_Minh"}, {"Asia/Rangoon", "Asia/Yangon"},
                 {"US/Eastern", "America/New_York"}, {"US/Central", "America/Chicago"},
                 {"US/Mountain", "America/Denver"}, {"US/Pacific", "America/Los_Angeles"},
                 {"America/Buenos_Aires", "America/Argentina/Buenos_Aires"}, {"Asia/Istanbul", "Europe/Istanbul"},
                 {"America/Montreal", "America/Toronto"}, {"Australia/Canberra", "Australia/Sydney"}};
    for (size_t i = 0; i < N_OF(links); i++)
        if (strcmp(links[i].alias, zone) == 0)
            return rc_zone_index(links[i].target);
    return -1;
}

int rc_zone_known(const char *zone) { return rc_zone_index(zone) >= 0; }

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since the epoch of a rule's transition day in year y. */
static int64_t transition_day(int64_t y, const struct tr_day *d)
{
    int64_t first = days_from_civil(y, (unsigned)d->month, 1);
    /* 1970-01-01 was a Thursday (4). */
    int64_t wd_first = ((first % 7) + 11) % 7;
    int64_t day = first + ((d->wday - wd_first + 7) % 7);
    if (d->week == 5) {
        unsigned nm = d->month == 12 ? 1 : (unsigned)d->month + 1;
        int64_t next_first = days_from_civil(d->month == 12 ? y + 1 : y, nm, 1);
        while (day + 7 < next_first)
            day += 7;
    } else {
        day += 7 * (d->week - 1);
    }
    return day + d->shift;
}

/* UTC minutes since the epoch at which DST starts (or ends) in year y. */
static int64_t transition_utc_min(const struct dst_rule *r, int64_t y, int std_min, int is_start)
{
    const struct tr_day *d = is_start ? &r->start : &r->end;
    int64_t local = transition_day(y, d) * DAY_MIN + (is_start ? r->start_min : r->end_min);
    if (r->basis == UTC_TIME)
        return local;
    return local - std_min - (is_start ? 0 : r->save_min);
}

static int zone_offset_min(int idx, int64_t utc_ms)
{
    if (idx < 0 || (size_t)idx >= NZONES)
        return 0;
    const struct zone *z = &zones[idx];
    if (z->rule == R_NONE)
        return z->std_min;
    const struct dst_rule *r = &rules[z->rule];
    int64_t umin = floor_div(utc_ms, MIN_MS);
    int64_t y;
    unsigned mo, d;
    civil_from_days(floor_div(umin + z->std_min, DAY_MIN), &y, &mo, &d);
    int64_t s = transition_utc_min(r, y, z->std_min, 1);
    int64_t e = transition_utc_min(r, y, z->std_min, 0);
    int dst = r->start.month < r->end.month ? (umin >= s && umin < e) : (umin >= s || umin < e);
    return z->std_min + (dst ? r->save_min : 0);
}

static void local_fields(int64_t utc_ms, int off, struct rc_local *out)
{
    int64_t lmin = floor_div(utc_ms, MIN_MS) + off;
    int64_t days = floor_div(lmin, DAY_MIN);
    int64_t mins = lmin - days * DAY_MIN;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    out->hour = (int)(mins / 60);
    out->wday = (int)(((days % 7) + 11) % 7);
    out->mday = (int)d;
    out->month = (int)mo;
    out->year = (int)y;
    out->offset_min = off;
}

void rc_local_time_idx(int64_t utc_ms, int zone_idx, struct rc_local *out)
{
    local_fields(utc_ms, zone_offset_min(zone_idx, utc_ms), out);
}

void rc_local_times_idx(const int64_t *utc_ms, size_t n, int zone_idx, struct rc_local *out)
{
    if (!n)
        return;
    /* No zone changes its offset twice within 100 days, so the same offset
     * at both ends of a shorter span holds throughout. */
    int first = zone_offset_min(zone_idx, utc_ms[0]);
    int same = utc_ms[n - 1] - utc_ms[0] < 100 * DAY_MIN * MIN_MS && zone_offset_min(zone_idx, utc_ms[n - 1]) == first;
    for (size_t i = 0; i < n; i++)
        local_fields(utc_ms[i], same ? first : zone_offset_min(zone_idx, utc_ms[i]), &out[i]);
}

void rc_local_time(int64_t utc_ms, const char *zone, struct rc_local *out)
{
    rc_local_time_idx(utc_ms, rc_zone_index(zone), out);
}
