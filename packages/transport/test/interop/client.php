<?php
// One PHP client for the interop suite. Usage: php -n -d display_errors=stderr client.php '<json spec>'
// spec: { how: "client" | "fsockopen", address?: "tcp://…" (client), host?, port? (fsockopen), ssl?: {…},
//         send: "text", datagram?: bool, shutdown?: bool, timeout?: seconds }
// Connects, writes `send`, (optionally) half-closes, reads one reply (a line, or one datagram), reads on to EOF
// for streams, and prints ONE line of JSON on stdout with what PHP saw. PHP warnings go into "warnings".
declare(strict_types=1);

$spec = json_decode($argv[1], true, 512, JSON_THROW_ON_ERROR);
$timeout = (float) ($spec['timeout'] ?? 5);
$warnings = [];
set_error_handler(function (int $level, string $message) use (&$warnings): bool {
    $warnings[] = $message;
    return true;
});
$emit = function (array $out) use (&$warnings): void {
    $out['warnings'] = $warnings;
    echo json_encode($out, JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE), "\n";
};

$errno = 0;
$errstr = '';
if ($spec['how'] === 'fsockopen') {
    $fp = fsockopen($spec['host'], (int) $spec['port'], $errno, $errstr, $timeout);
} else {
    $context = stream_context_create(['ssl' => $spec['ssl'] ?? []]);
    $fp = stream_socket_client($spec['address'], $errno, $errstr, $timeout, STREAM_CLIENT_CONNECT, $context);
}
if ($fp === false) {
    $emit(['ok' => false, 'errno' => $errno, 'errstr' => $errstr]);
    exit(1);
}
stream_set_timeout($fp, (int) ceil($timeout));
$meta = stream_get_meta_data($fp);
$out = [
    'ok' => true,
    'local' => stream_socket_get_name($fp, false),
    'peer' => stream_socket_get_name($fp, true),
    'streamType' => $meta['stream_type'],
    'crypto' => $meta['crypto'] ?? null,
];
$out['written'] = fwrite($fp, $spec['send']);
if ($spec['shutdown'] ?? false) {
    $out['shutdown'] = stream_socket_shutdown($fp, STREAM_SHUT_WR);
}
$reply = ($spec['datagram'] ?? false) ? fread($fp, 65535) : fgets($fp);
$out['reply'] = $reply === false ? null : $reply;
$out['timedOut'] = stream_get_meta_data($fp)['timed_out'];
if (!($spec['datagram'] ?? false)) {
    // the netdial side closes after its reply: PHP must see EOF (bounded by the read timeout)
    $rest = stream_get_contents($fp);
    $out['rest'] = $rest === false ? null : $rest;
    $out['eof'] = feof($fp);
}
fclose($fp);
$emit($out);
