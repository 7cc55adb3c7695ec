<?php
// One PHP server for the interop suite. Usage: php -n -d display_errors=stderr server.php '<json spec>'
// spec: { address: "tcp://127.0.0.1:0" | "udp://…" | "tls://…" | "unix:///…", ssl?: {…}, count?: n, timeout?: s }
// Prints {"listening": NAME} first, then one JSON line per connection (or datagram): it reads one line (or one
// datagram), answers "php got: " + what it read, and closes. Exits after `count` connections. Every wait is bounded.
declare(strict_types=1);

$spec = json_decode($argv[1], true, 512, JSON_THROW_ON_ERROR);
$timeout = (float) ($spec['timeout'] ?? 10);
$count = (int) ($spec['count'] ?? 1);
$datagram = str_starts_with($spec['address'], 'udp://');
$warnings = [];
set_error_handler(function (int $level, string $message) use (&$warnings): bool {
    $warnings[] = $message;
    return true;
});
$emit = function (array $out) use (&$warnings): void {
    $out['warnings'] = $warnings;
    $warnings = [];
    echo json_encode($out, JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE), "\n";
};

$context = stream_context_create(['ssl' => $spec['ssl'] ?? []]);
// udp:// needs STREAM_SERVER_BIND alone: with the default BIND|LISTEN, listen() fails with "Unknown error".
$flags = $datagram ? STREAM_SERVER_BIND : STREAM_SERVER_BIND | STREAM_SERVER_LISTEN;
$server = stream_socket_server($spec['address'], $errno, $errstr, $flags, $context);
if ($server === false) {
    $emit(['listening' => false, 'errno' => $errno, 'errstr' => $errstr]);
    exit(1);
}
$emit(['listening' => stream_socket_get_name($server, false)]);

for ($i = 0; $i < $count; $i++) {
    if ($datagram) {
        // stream_socket_recvfrom ignores stream_set_timeout and would block forever: select first.
        $read = [$server];
        $none = null;
        if (stream_select($read, $none, $none, (int) $timeout) !== 1) {
            $emit(['received' => null, 'error' => 'no datagram within the timeout']);
            continue;
        }
        $data = stream_socket_recvfrom($server, 65535, 0, $peer);
        $sent = stream_socket_sendto($server, "php got: $data", 0, $peer);
        $emit(['received' => $data, 'peer' => $peer, 'sent' => $sent]);
        continue;
    }
    // tls:// servers run the handshake inside accept
    $connection = stream_socket_accept($server, $timeout, $peer);
    if ($connection === false) {
        $emit(['accepted' => false]);
        continue;
    }
    stream_set_timeout($connection, (int) ceil($timeout));
    $meta = stream_get_meta_data($connection);
    $line = fgets($connection);
    $written = $line === false ? 0 : fwrite($connection, "php got: $line");
    $emit([
        'accepted' => true,
        'peer' => $peer,
        'local' => stream_socket_get_name($connection, false),
        'streamType' => $meta['stream_type'],
        'crypto' => $meta['crypto'] ?? null,
        'received' => $line === false ? null : $line,
        'timedOut' => stream_get_meta_data($connection)['timed_out'],
        'written' => $written,
    ]);
    fclose($connection);
}
fclose($server);
